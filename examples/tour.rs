//! A self-contained tour: starts an axum receiver on an ephemeral 127.0.0.1
//! port, with the in-memory idempotency store, and sends it real signed
//! webhooks from every email provider and scheme email-webhooks supports, then
//! tampered, stale, wrong-credential, unsigned, oversized, malformed and
//! untrusted ones, and redeliveries that must be acknowledged without being
//! processed again. Prints what happened to each request and exits 0 only
//! if every outcome is the expected one.
//!
//! Run: `cargo run --example tour --features axum,sqlite`
//!
//! Its last part is the durable handoff: a second receiver enqueues each
//! delivery's new events in a SQLite file and answers at once, is
//! restarted with nothing lost, and a worker then handles the events
//! (a slow handler, which the provider never waits for).
//!
//! Mail the providers receive for you (inbound) arrives on a route of its
//! own, `POST /webhooks/{provider}/inbound` ([`inbound_router`]): one
//! message per provider that posts received mail, each authenticated as
//! that provider's inbound webhook is, redelivered and tampered with; what
//! a provider posts by reference (Resend's content) comes from a content
//! source, here a fixed one.
//!
//! The email providers share one route, `POST /webhooks/{provider}`, which is
//! what `examples/axum_receiver.rs` runs: [`webhooks_router`] over the
//! configured providers (verify → parse → claim → your handler → complete),
//! answering what each provider requires (GetResponse reads a
//! `{"status":"OK"}` body). The table reads what happened from the route's
//! observer and the handler's notes.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use base64::Engine as _;
use email_webhooks::EventKind;
use email_webhooks::adapters::axum::{
    Handled, PublicUrl, Rejection, Webhook, inbound_router, webhooks_handoff_router,
    webhooks_router,
};
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::inbound::{InboundProviders, StaticContent};
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::getresponse::GetresponseVerifier;
use email_webhooks::provider::mailgun::MailgunVerifier;
use email_webhooks::provider::mailjet::MailjetVerifier;
use email_webhooks::provider::postmark::PostmarkVerifier;
use email_webhooks::provider::resend::ResendVerifier;
use email_webhooks::provider::sendgrid::{SendgridSigner, SendgridVerifier};
use email_webhooks::provider::ses::SesVerifier;
use email_webhooks::provider::sns::{
    CertificateSource, SigningCertUrl, SnsSigner, SnsVerifier, StaticCertificates,
};
use email_webhooks::provider::{Provider, Providers, Settings, Simulation};
use email_webhooks::queue::{Queue as _, SqliteQueue};
use email_webhooks::scheme::github::GitHubVerifier;
use email_webhooks::scheme::hmac::HmacVerifier;
use email_webhooks::scheme::standard::{StandardWebhooks, StandardWebhooksSigner};
use email_webhooks::scheme::stripe::StripeVerifier;
use email_webhooks::scheme::twilio::TwilioVerifier;
use email_webhooks::scheme::url_secret::UrlSecret;
use email_webhooks::scheme::{shopify, slack};
use email_webhooks::worker::Worker;
use email_webhooks::{BasicAuth, Ed25519SigningKey, Limits, Secret, VerifyError};
use serde_json::{Value, json};
use time::OffsetDateTime;

// Test secrets, embedded so the tour runs anywhere. Never use these for real.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STRIPE: &str = "whsec_tour_stripe_secret";
const GITHUB: &str = "tour-github-secret";
const SLACK: &str = "tour-slack-signing-secret";
const SHOPIFY: &str = "tour-shopify-secret";
const TWILIO: &str = "tour-twilio-auth-token";
const ED25519_SEED: [u8; 32] = [42; 32];
const MAILGUN: &str = "tour-mailgun-signing-key";
const POSTMARK_USER: &str = "postmark";
const POSTMARK_PASS: &str = "tour-postmark-password";
const MAILJET_USER: &str = "mailjet";
const MAILJET_PASS: &str = "tour-mailjet-password";
/// GetResponse's secret travels in the webhook URL's query (`?secret=`).
const GETRESPONSE_SECRET: &str = "tour-getresponse-secret";
/// What GetResponse must read in a 2xx answer, or it retries.
const GETRESPONSE_ACK: &str = r#"{"status":"OK"}"#;
/// The one SNS topic the SES route accepts (AWS signs every topic alike).
const SES_TOPIC: &str = "arn:aws:sns:eu-west-1:123456789012:ses-events";
// A self-signed test certificate standing in for Amazon SNS's (see
// tests/data/README.md); the receiver gets it from its certificate source.
const SNS_CERT: &[u8] = include_bytes!("../tests/data/sns-test-cert.pem");
const SNS_KEY: &[u8] = include_bytes!("../tests/data/sns-test-key.pk8");
// A test RSA-2048 key pair standing in for a Postal server's signing key.
const POSTAL_KEY: &[u8] = include_bytes!("../tests/data/postal-test-key-2048.pk8");
const POSTAL_PUBLIC: &[u8] = include_bytes!("../tests/data/postal-test-key-2048.pub.pem");
const SNS_CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-tour.pem";
/// The tour's body limit, small so that the oversized request is cheap.
const MAX_BODY: usize = 64 * 1024;

type Headers = Vec<(String, String)>;

fn s(path: &str) -> String {
    path.to_owned()
}

// --- The receiver ---

/// A scheme route's answer: the status, and a small JSON body for the table.
fn answer(status: u16, detail: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
    (status, json, detail.to_string()).into_response()
}

/// What the tour's handler and the route's observer saw of one request.
#[derive(Default)]
struct Seen {
    /// One note per event the handler processed.
    notes: Vec<String>,
    /// The route's summary of the delivery.
    handled: Option<Handled>,
}

/// The generic schemes: signature checks only, no events.
struct Schemes {
    standard: StandardWebhooks,
    stripe: StripeVerifier,
    github: GitHubVerifier,
    slack: HmacVerifier,
    shopify: HmacVerifier,
    twilio: TwilioVerifier,
    /// Twilio signs the URL it posts to: the receiver's public URL.
    public_url: String,
}

async fn scheme(
    State(schemes): State<Arc<Schemes>>,
    Path(name): Path<String>,
    hook: Webhook,
) -> Result<Response, Rejection> {
    let (h, body) = (&hook.headers, &hook.body[..]);
    let verified = match name.as_str() {
        "standard-webhooks" => schemes.standard.verify(h, body),
        "stripe" => schemes.stripe.verify(h, body),
        "github" => schemes.github.verify(h, body),
        "slack" => schemes.slack.verify(h, body),
        "shopify" => schemes.shopify.verify(h, body),
        "twilio" => {
            let url = format!("{}/schemes/twilio", schemes.public_url);
            schemes.twilio.verify(h, &url, body)
        }
        _ => return Ok(StatusCode::NOT_FOUND.into_response()),
    };
    match verified {
        Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Ok(answer(
            email_webhooks::Error::Verify(e.clone()).http_status(),
            &json!({"error": e.code()}),
        )),
    }
}

fn app(
    public_url: String,
    sendgrid: SendgridVerifier,
    certificates: impl CertificateSource + 'static,
    seen: &Arc<Mutex<Seen>>,
) -> Result<Router, Box<dyn std::error::Error>> {
    let ed = Ed25519SigningKey::from_seed(ED25519_SEED)?;
    let schemes = Arc::new(Schemes {
        standard: StandardWebhooks::new(Secret::from_standard_webhooks(WHSEC)?)
            .with_key(ed.public_key().clone()),
        stripe: StripeVerifier::new(Secret::from_bytes(STRIPE)?),
        github: GitHubVerifier::new(Secret::from_bytes(GITHUB)?),
        slack: slack::verifier(Secret::from_bytes(SLACK)?),
        shopify: shopify::verifier(Secret::from_bytes(SHOPIFY)?),
        twilio: TwilioVerifier::new(Secret::from_bytes(TWILIO)?),
        public_url: public_url.clone(),
    });
    // Every email provider, each with its own authentication, in one set
    // served by one route; the store is shared (keys name their provider).
    let providers = Providers::new()
        .with(sendgrid)
        .with(MailgunVerifier::new(Secret::from_bytes(MAILGUN)?))
        .with(PostmarkVerifier::new(BasicAuth::new(
            POSTMARK_USER,
            POSTMARK_PASS,
        )?))
        .with(ResendVerifier::new(Secret::from_standard_webhooks(WHSEC)?))
        .with(SesVerifier::new(SnsVerifier::new(
            certificates,
            [SES_TOPIC],
        )))
        .with(MailjetVerifier::new(BasicAuth::new(
            MAILJET_USER,
            MAILJET_PASS,
        )?))
        .with(GetresponseVerifier::new(UrlSecret::new(
            &Secret::from_bytes(GETRESPONSE_SECRET)?,
        )));
    // The providers added since, built from their settings through the
    // registry, as the CLI builds them.
    let mut providers = providers;
    for &provider in REGISTRY_PROVIDERS {
        if let Some(info) = provider.info() {
            providers = providers.with((info.build)(&registry_settings(provider, &public_url).0)?);
        }
    }
    let pipeline = Arc::new(Pipeline::new(providers, MemoryStore::new()));
    let notes = Arc::clone(seen);
    let observed = Arc::clone(seen);
    let webhooks = webhooks_router(
        pipeline,
        move |event| {
            // Your handler: store the event, update the suppression list...
            let note = format!(
                "{} {}",
                event.kind,
                event.recipient.as_deref().unwrap_or("-")
            );
            notes.lock().map(|mut s| s.notes.push(note)).ok();
            std::future::ready(Ok::<(), Infallible>(()))
        },
        move |handled| {
            observed
                .lock()
                .map(|mut s| s.handled = Some(handled.clone()))
                .ok();
        },
    );
    Ok(Router::new()
        .merge(webhooks)
        .merge(
            Router::new()
                .route("/schemes/{name}", post(scheme))
                .with_state(schemes),
        )
        // The body limit the extractor enforces while reading, and the
        // public URL providers call (GetResponse's secret is in its query).
        .layer(Extension(Limits::default().with_max_body_bytes(MAX_BODY)))
        .layer(Extension(PublicUrl::new(public_url)?)))
}

// --- The sender ---

/// What a request must produce: a status, and for provider routes how many
/// events are handled as new and how many acknowledged as duplicates.
struct Expect {
    status: u16,
    new: usize,
    duplicates: usize,
    /// The answer's body, where the provider reads one.
    body: Option<&'static str>,
}

const fn expect(status: u16) -> Expect {
    Expect {
        status,
        new: 0,
        duplicates: 0,
        body: None,
    }
}

const fn events(new: usize, duplicates: usize) -> Expect {
    Expect {
        status: 200,
        new,
        duplicates,
        body: None,
    }
}

/// `events`, answered with GetResponse's acknowledgement body.
const fn acknowledged(new: usize, duplicates: usize) -> Expect {
    Expect {
        body: Some(GETRESPONSE_ACK),
        ..events(new, duplicates)
    }
}

struct Case {
    name: String,
    path: String,
    headers: Headers,
    body: Vec<u8>,
    expect: Expect,
}

/// Posts one request on a fresh connection; returns the status and body.
fn post_request(addr: &str, case: &Case) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "POST {} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
        case.path,
        case.body.len()
    );
    for (k, v) in &case.headers {
        let _ = write!(request, "{k}: {v}\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    // The receiver may answer (413) before reading all of an oversized body.
    let _ = stream.write_all(&case.body);
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// What the table says of an answer, and whether it is the expected one.
fn judge(case: &Case, status: u16, body: &str, seen: &Seen) -> (bool, String) {
    let (new, duplicates) = seen
        .handled
        .as_ref()
        .map_or((0, 0), |h| (seen.notes.len(), h.duplicates));
    let ok = status == case.expect.status
        && new == case.expect.new
        && duplicates == case.expect.duplicates
        && case.expect.body.is_none_or(|b| b == body);
    let detail: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = if let Some(code) = seen.handled.as_ref().and_then(|h| h.error_code) {
        format!("refused: {code}")
    } else if let Some(code) = detail["error"].as_str() {
        format!("refused: {code}")
    } else if seen.handled.as_ref().is_some_and(|h| h.control.is_some()) {
        "subscription confirmation, left for you to confirm".to_owned()
    } else if seen.handled.is_none() {
        match status {
            204 => "signature verified".to_owned(),
            404 => "no such provider configured".to_owned(),
            413 => "refused by the extractor while reading the body".to_owned(),
            _ => String::new(),
        }
    } else {
        let mut parts = Vec::new();
        if !seen.notes.is_empty() {
            parts.push(format!("handled {}", seen.notes.join(", ")));
        }
        if duplicates > 0 {
            parts.push(format!(
                "{duplicates} duplicate(s) acknowledged, not reprocessed"
            ));
        }
        if !body.is_empty() {
            parts.push(format!("answered {body}"));
        }
        parts.join("; ")
    };
    (ok, text)
}

/// An SNS envelope signed with the test key, naming the test certificate.
fn sns_envelope(fields: Value) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let signer = SnsSigner::from_pkcs8(SNS_KEY, SigningCertUrl::parse(SNS_CERT_URL)?)?;
    Ok(signer.sign(fields)?)
}

fn svix(headers: [(&'static str, String); 3]) -> Headers {
    // Resend sends the Standard Webhooks headers with svix- names.
    headers
        .into_iter()
        .map(|(k, v)| (k.replace("webhook-", "svix-"), v))
        .collect()
}

fn owned(pairs: [(&'static str, String); 3]) -> Headers {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn basic(user: &str, pass: &str) -> Headers {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    vec![
        ("Authorization".into(), format!("Basic {b64}")),
        ("Content-Type".into(), "application/json".into()),
    ]
}

/// The email providers' requests, in the order they are sent.
// One table of requests; splitting it would only scatter it.
#[allow(clippy::too_many_lines)]
fn provider_cases(sendgrid: &SendgridSigner) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let json_type = || vec![("Content-Type".to_owned(), "application/json".to_owned())];

    let sendgrid_batch = format!(
        r#"[{{"email":"a@example.com","timestamp":{now},"event":"delivered","sg_event_id":"e1","sg_message_id":"m1"}},{{"email":"b@example.com","timestamp":{now},"event":"bounce","type":"blocked","sg_event_id":"e2","sg_message_id":"m1"}},{{"email":"c@example.com","timestamp":{now},"event":"open","sg_event_id":"e3","sg_message_id":"m1"}}]"#
    )
    .into_bytes();
    let sendgrid_headers = sendgrid.headers(now, &sendgrid_batch)?;
    // SendGrid retries a failed batch; here one of its events is new.
    let sendgrid_retry = format!(
        r#"[{{"email":"a@example.com","timestamp":{now},"event":"delivered","sg_event_id":"e1","sg_message_id":"m1"}},{{"email":"d@example.com","timestamp":{now},"event":"click","url":"https://example.com","sg_event_id":"e4","sg_message_id":"m1"}}]"#
    )
    .into_bytes();

    // Mailgun signs each delivery attempt with a fresh token, and signs only
    // the timestamp and token: the pipeline refuses a token seen before.
    let mailgun = MailgunVerifier::new(Secret::from_bytes(MAILGUN)?);
    let mailgun_event = json!({
        "event": "failed", "severity": "permanent", "reason": "bounce", "id": "mg-1",
        "recipient": "e@example.com", "message": {"headers": {"message-id": "m2@example.com"}}
    });
    let mailgun_body = mailgun.sign(now, "tour-token-1", &mailgun_event)?;
    let mailgun_retry = mailgun.sign(now, "tour-token-2", &mailgun_event)?;
    let mut mailgun_forged = mailgun_body.clone();
    mailgun_forged["event-data"]["id"] = json!("mg-forged");
    mailgun_forged["event-data"]["event"] = json!("unsubscribed");
    let postmark_body = br#"{"RecordType":"SpamComplaint","ID":42,"Type":"SpamComplaint","Email":"f@example.com","MessageID":"m3","BouncedAt":"2024-01-01T00:00:00Z"}"#.to_vec();
    let whsec = StandardWebhooksSigner::new(Secret::from_standard_webhooks(WHSEC)?);
    let resend_body = br#"{"type":"email.clicked","created_at":"2024-01-01T00:00:00Z","data":{"email_id":"re-1","to":["g@example.com"],"click":{"link":"https://example.com"}}}"#.to_vec();
    let not_json = b"<html>not an event</html>".to_vec();

    let sns_time =
        OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    let ses_message = json!({
        "notificationType": "Bounce",
        "mail": {"messageId": "ses-1", "destination": ["h@example.com", "i@example.com"]},
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "bouncedRecipients": [
            {"emailAddress": "h@example.com", "diagnosticCode": "smtp; 550 5.1.1 user unknown"},
            {"emailAddress": "i@example.com", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}
    });
    let ses_body = sns_envelope(json!({
        "Type": "Notification", "MessageId": "sns-1", "TopicArn": SES_TOPIC,
        "Message": ses_message.to_string(), "Timestamp": sns_time,
    }))?;
    // Signed by AWS just as well, but published to another account's topic.
    let other_topic = sns_envelope(json!({
        "Type": "Notification", "MessageId": "sns-3",
        "TopicArn": "arn:aws:sns:eu-west-1:999999999999:attacker",
        "Message": ses_message.to_string(), "Timestamp": sns_time,
    }))?;
    let stale = sns_envelope(json!({
        "Type": "Notification", "MessageId": "sns-4", "TopicArn": SES_TOPIC,
        "Message": ses_message.to_string(), "Timestamp": "2024-01-01T00:00:00.000Z",
    }))?;
    let ses_subscription = sns_envelope(json!({
        "Type": "SubscriptionConfirmation", "MessageId": "sns-2", "TopicArn": SES_TOPIC,
        "Message": "You have chosen to subscribe.", "Token": "tok",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok",
        "Timestamp": sns_time,
    }))?;
    let untrusted = String::from_utf8(ses_body.clone())?
        .replace(
            SNS_CERT_URL,
            "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        )
        .into_bytes();
    // Mailjet: one event per request, or an array with "group events" on.
    // Its message ids exceed 2^53 and are read exactly.
    let mailjet_event = |event: &str, email: &str| {
        json!({"event": event, "time": now, "MessageID": 19_421_777_835_146_490_u64,
               "email": email, "mj_campaign_id": 7, "mj_contact_id": 4, "customcampaign": "",
               "CustomID": "order-42", "Payload": ""})
    };
    let mailjet_one = mailjet_event("sent", "j@example.com")
        .to_string()
        .into_bytes();
    let mailjet_grouped = json!([
        mailjet_event("sent", "j@example.com"),
        mailjet_event("open", "j@example.com")
    ])
    .to_string()
    .into_bytes();
    // GetResponse: X-Webhook-ID names the event, the same on each retry.
    let getresponse_body = json!({
        "type": "contact_opened_message",
        "contact": {"contactId": "c1", "email": "k@example.com", "name": null,
                    "campaign": {"campaignId": "l1", "name": "newsletter"}},
        "message": {"resourceType": "newsletters", "resourceId": "n1", "name": "news", "subject": "News"},
        "account": {"accountId": "a1"},
        "event": {"occurredAt": sns_time},
    })
    .to_string()
    .into_bytes();
    let getresponse_headers: Headers = vec![
        ("Content-Type".into(), "application/json".into()),
        ("X-Webhook-Type".into(), "contact_opened_message".into()),
        (
            "X-Webhook-ID".into(),
            "9b287712-80b9-4aba-ad5e-df31929dad75".into(),
        ),
        (
            "X-Request-ID".into(),
            "cf3c768a-3465-4a6d-9ad9-ddae2705f526".into(),
        ),
    ];
    let sns = || {
        vec![(
            "x-amz-sns-message-type".to_owned(),
            "Notification".to_owned(),
        )]
    };

    Ok(vec![
        Case {
            name: s("sendgrid batch (p-256)"),
            path: s("/webhooks/sendgrid"),
            headers: sendgrid_headers.clone(),
            body: sendgrid_batch.clone(),
            expect: events(3, 0),
        },
        Case {
            name: s("sendgrid, same batch redelivered"),
            path: s("/webhooks/sendgrid"),
            headers: sendgrid_headers.clone(),
            body: sendgrid_batch.clone(),
            expect: events(0, 3),
        },
        Case {
            name: s("sendgrid, retry with one new event"),
            path: s("/webhooks/sendgrid"),
            headers: sendgrid.headers(now, &sendgrid_retry)?,
            body: sendgrid_retry,
            expect: events(1, 1),
        },
        Case {
            name: s("sendgrid, tampered batch"),
            path: s("/webhooks/sendgrid"),
            headers: sendgrid_headers,
            body: sendgrid_batch[1..].to_vec(),
            expect: expect(401),
        },
        Case {
            name: s("mailgun"),
            path: s("/webhooks/mailgun"),
            headers: json_type(),
            body: mailgun_body.to_string().into_bytes(),
            expect: events(1, 0),
        },
        Case {
            name: s("mailgun, retried (fresh token)"),
            path: s("/webhooks/mailgun"),
            headers: json_type(),
            body: mailgun_retry.to_string().into_bytes(),
            expect: events(0, 1),
        },
        Case {
            name: s("mailgun, signature reused on a forgery"),
            path: s("/webhooks/mailgun"),
            headers: json_type(),
            body: mailgun_forged.to_string().into_bytes(),
            expect: expect(401),
        },
        Case {
            name: s("postmark (basic auth)"),
            path: s("/webhooks/postmark"),
            headers: basic(POSTMARK_USER, POSTMARK_PASS),
            body: postmark_body.clone(),
            expect: events(1, 0),
        },
        Case {
            name: s("postmark, wrong credentials"),
            path: s("/webhooks/postmark"),
            headers: basic(POSTMARK_USER, "guess"),
            body: postmark_body,
            expect: expect(401),
        },
        Case {
            name: s("resend"),
            path: s("/webhooks/resend"),
            headers: svix(whsec.headers("msg_resend", now, &resend_body)?),
            body: resend_body.clone(),
            expect: events(1, 0),
        },
        Case {
            name: s("resend, stale (signed 10 min ago)"),
            path: s("/webhooks/resend"),
            headers: svix(whsec.headers("msg_old", now - 600, &resend_body)?),
            body: resend_body.clone(),
            expect: expect(401),
        },
        Case {
            name: s("resend, signed but not an event"),
            path: s("/webhooks/resend"),
            headers: svix(whsec.headers("msg_html", now, &not_json)?),
            body: not_json,
            expect: expect(400),
        },
        Case {
            name: s("resend, body over the limit"),
            path: s("/webhooks/resend"),
            headers: svix(whsec.headers("msg_big", now, b"")?),
            body: vec![b' '; MAX_BODY + 1],
            expect: expect(413),
        },
        Case {
            name: s("amazon ses via sns (2 recipients)"),
            path: s("/webhooks/ses"),
            headers: sns(),
            body: ses_body.clone(),
            expect: events(2, 0),
        },
        Case {
            name: s("amazon ses, redelivered"),
            path: s("/webhooks/ses"),
            headers: sns(),
            body: ses_body,
            expect: events(0, 2),
        },
        Case {
            name: s("sns subscription confirmation"),
            path: s("/webhooks/ses"),
            headers: Headers::new(),
            body: ses_subscription,
            expect: expect(200),
        },
        Case {
            name: s("sns, untrusted certificate url"),
            path: s("/webhooks/ses"),
            headers: sns(),
            body: untrusted,
            expect: expect(401),
        },
        Case {
            name: s("sns, signed but from another account's topic"),
            path: s("/webhooks/ses"),
            headers: sns(),
            body: other_topic,
            expect: expect(401),
        },
        Case {
            name: s("sns, published hours before the replay window"),
            path: s("/webhooks/ses"),
            headers: sns(),
            body: stale,
            expect: expect(401),
        },
        Case {
            name: s("mailjet, one event (basic auth)"),
            path: s("/webhooks/mailjet"),
            headers: basic(MAILJET_USER, MAILJET_PASS),
            body: mailjet_one.clone(),
            expect: events(1, 0),
        },
        Case {
            name: s("mailjet, grouped: that event + a new one"),
            path: s("/webhooks/mailjet"),
            headers: basic(MAILJET_USER, MAILJET_PASS),
            body: mailjet_grouped,
            expect: events(1, 1),
        },
        Case {
            name: s("mailjet, wrong credentials"),
            path: s("/webhooks/mailjet"),
            headers: basic(MAILJET_USER, "guess"),
            body: mailjet_one,
            expect: expect(401),
        },
        Case {
            name: s("getresponse (secret in the url)"),
            path: format!("/webhooks/getresponse?secret={GETRESPONSE_SECRET}"),
            headers: getresponse_headers.clone(),
            body: getresponse_body.clone(),
            expect: acknowledged(1, 0),
        },
        Case {
            name: s("getresponse, retried (same X-Webhook-ID)"),
            path: format!("/webhooks/getresponse?secret={GETRESPONSE_SECRET}"),
            headers: getresponse_headers.clone(),
            body: getresponse_body.clone(),
            expect: acknowledged(0, 1),
        },
        Case {
            name: s("getresponse, wrong secret"),
            path: s("/webhooks/getresponse?secret=guess"),
            headers: getresponse_headers,
            body: getresponse_body,
            expect: expect(401),
        },
        Case {
            name: s("a provider not configured here"),
            path: s("/webhooks/not-a-provider"),
            headers: json_type(),
            body: b"{}".to_vec(),
            expect: expect(404),
        },
    ])
}

/// Providers the tour configures through the registry (their settings as
/// the CLI's flags give them) and sends their own simulated deliveries.
const REGISTRY_PROVIDERS: &[Provider] = &[
    Provider::Mandrill,
    Provider::Sparkpost,
    Provider::Mailersend,
    Provider::Mailtrap,
    Provider::Brevo,
    Provider::Postal,
    Provider::UnisenderGo,
    Provider::Smtp2go,
    Provider::Mailpace,
    Provider::Sweego,
    Provider::Mailkite,
];

/// What each of [`REGISTRY_PROVIDERS`] is configured with (the receiver's
/// settings) and signs with (the sender's): test secrets, never for real
/// use.
fn registry_settings(provider: Provider, public_url: &str) -> (Settings, Settings) {
    let mut settings = Settings::new();
    match provider {
        // Mandrill signs the webhook URL exactly as configured.
        Provider::Mandrill => {
            settings.secrets.push("tour-mandrill-webhook-key".into());
            settings.url = Some(format!("{public_url}/webhooks/{provider}"));
        }
        // Signed with a shared secret.
        Provider::Mailersend | Provider::Mailtrap | Provider::UnisenderGo | Provider::Mailkite => {
            settings
                .secrets
                .push(format!("tour-{provider}-signing-secret"));
        }
        // Sweego shows its secret as base64.
        Provider::Sweego => settings.secrets.push(
            base64::engine::general_purpose::STANDARD.encode("tour-sweego-webhook-secret-bytes"),
        ),
        // Signed with Ed25519: the receiver holds the public key, the
        // sender the seed.
        Provider::Mailpace => {
            let seed = [9u8; 32];
            let public = Ed25519SigningKey::from_seed(seed)
                .map(|k| {
                    base64::engine::general_purpose::STANDARD.encode(k.public_key().as_bytes())
                })
                .unwrap_or_default();
            let mut sender = Settings::new();
            sender
                .keys
                .push(base64::engine::general_purpose::STANDARD.encode(seed));
            settings.keys.push(public);
            return (settings, sender);
        }
        // Signed with the server's RSA key: the receiver holds the public
        // half, the sender the private one.
        Provider::Postal => {
            let mut sender = Settings::new();
            sender
                .keys
                .push(base64::engine::general_purpose::STANDARD.encode(POSTAL_KEY));
            settings
                .keys
                .push(String::from_utf8_lossy(POSTAL_PUBLIC).into_owned());
            return (settings, sender);
        }
        _ => settings
            .basic_auth
            .push("tour:tour-provider-password".into()),
    }
    (settings.clone(), settings)
}

/// For each registry provider: a genuine delivery from its simulator, the
/// same delivery again (a duplicate), and one tampered with after signing.
fn registry_cases(public_url: &str) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut cases = Vec::new();
    for &provider in REGISTRY_PROVIDERS {
        let Some(info) = provider.info() else {
            continue;
        };
        let (_, settings) = registry_settings(provider, public_url);
        let kind = [
            EventKind::Bounced,
            EventKind::Delivered,
            EventKind::Opened,
            EventKind::Inbound,
        ]
        .into_iter()
        .find(|&kind| {
            (info.simulate)(&Simulation::new(kind, "t@example.com", "e", now, &settings)).is_ok()
        })
        .ok_or("no simulated kind")?;
        let sim = Simulation::new(kind, "reg@example.com", "tour-registry-1", now, &settings);
        let genuine = (info.simulate)(&sim)?;
        let tampered = (info.simulate)(&sim.tampered())?;
        let path = format!("/webhooks/{provider}");
        let case = |name: String, delivery: &email_webhooks::provider::Simulated, expect| Case {
            name,
            path: path.clone(),
            headers: delivery.headers.clone(),
            body: delivery.body.clone(),
            expect,
        };
        cases.push(case(
            format!("{provider}, one {kind} event"),
            &genuine,
            events(1, 0),
        ));
        cases.push(case(
            format!("{provider}, redelivered"),
            &genuine,
            events(0, 1),
        ));
        cases.push(case(
            format!("{provider}, tampered"),
            &tampered,
            expect(401),
        ));
    }
    Ok(cases)
}

// --- Inbound mail ---

/// Every provider whose inbound mail the crate reads.
fn inbound_providers() -> Vec<Provider> {
    Provider::ALL
        .iter()
        .copied()
        .filter(|p| p.info().is_some_and(|info| info.inbound.is_some()))
        .collect()
}

/// What each provider's inbound webhook is configured with (the
/// receiver's settings) and signs with (the sender's): test secrets, never
/// for real use.
fn inbound_settings(provider: Provider, public_url: &str) -> (Settings, Settings) {
    let mut settings = Settings::new();
    settings
        .basic_auth
        .push("tour:tour-inbound-password".into());
    settings.secrets.push(match provider {
        Provider::Resend => WHSEC.to_owned(),
        _ => format!("tour-{provider}-inbound-secret"),
    });
    // Mandrill signs the inbound route's URL exactly as configured.
    settings.url = Some(format!("{public_url}/webhooks/{provider}/inbound"));
    settings.topics.push(SES_TOPIC.into());
    let mut sender = settings.clone();
    match provider {
        // SNS signs with the certificate's key; Postal with its server's.
        Provider::Ses => {
            settings
                .keys
                .push(String::from_utf8_lossy(SNS_CERT).into_owned());
            sender
                .keys
                .push(base64::engine::general_purpose::STANDARD.encode(SNS_KEY));
        }
        Provider::Postal => {
            settings
                .keys
                .push(String::from_utf8_lossy(POSTAL_PUBLIC).into_owned());
            sender
                .keys
                .push(base64::engine::general_purpose::STANDARD.encode(POSTAL_KEY));
        }
        _ => {}
    }
    (settings, sender)
}

/// The inbound route for every such provider; Resend's content (which its
/// API serves) from a fixed source standing in for an HTTP client.
fn inbound_app(
    public_url: &str,
    seen: &Arc<Mutex<Seen>>,
) -> Result<Router, Box<dyn std::error::Error>> {
    let mut content = StaticContent::new();
    for (url, bytes) in
        email_webhooks::provider::resend::simulated_content("tour-inbound-1", "help@in.example.org")
    {
        content = content.with(url, bytes);
    }
    let mut inbound = InboundProviders::new().with_content_source(content);
    for provider in inbound_providers() {
        inbound = inbound.with(provider, &inbound_settings(provider, public_url).0)?;
    }
    let (notes, observed) = (Arc::clone(seen), Arc::clone(seen));
    Ok(inbound_router(
        Arc::new(inbound),
        Arc::new(MemoryStore::new()),
        move |message| {
            // Your handler: open a ticket, thread the reply...
            let note = format!(
                "a message for {}, {:?}, {} attachment(s)",
                message
                    .envelope_recipient
                    .as_deref()
                    .or_else(|| message.to.first().and_then(|a| a.address.as_deref()))
                    .unwrap_or("-"),
                message.subject.as_deref().unwrap_or_default(),
                message.attachments.len()
            );
            notes.lock().map(|mut s| s.notes.push(note)).ok();
            std::future::ready(Ok::<(), Infallible>(()))
        },
        move |handled| {
            observed
                .lock()
                .map(|mut s| s.handled = Some(handled.clone()))
                .ok();
        },
    ))
}

/// For each inbound provider: a received message, its redelivery (signed
/// anew, as a provider's retry is), and one tampered with after signing.
fn inbound_cases(public_url: &str) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut cases = Vec::new();
    for provider in inbound_providers() {
        let Some(inbound) = provider.info().and_then(|info| info.inbound) else {
            continue;
        };
        let (_, sender) = inbound_settings(provider, public_url);
        let sim = Simulation::new(
            EventKind::Inbound,
            "help@in.example.org",
            "tour-inbound-1",
            now,
            &sender,
        );
        let first = (inbound.simulate)(&sim)?;
        let again = (inbound.simulate)(&sim.attempt("retry-1"))?;
        let tampered = (inbound.simulate)(&sim.tampered())?;
        let path = format!("/webhooks/{provider}/inbound");
        let case = |name: String, delivery: &email_webhooks::provider::Simulated, expect| Case {
            name,
            path: path.clone(),
            headers: delivery.headers.clone(),
            body: delivery.body.clone(),
            expect,
        };
        cases.push(case(
            format!("{provider} inbound, a message"),
            &first,
            events(1, 0),
        ));
        cases.push(case(
            format!("{provider} inbound, redelivered"),
            &again,
            events(0, 1),
        ));
        cases.push(case(
            format!("{provider} inbound, tampered"),
            &tampered,
            expect(401),
        ));
    }
    Ok(cases)
}

/// The generic schemes' requests.
// One table of requests, as above.
#[allow(clippy::too_many_lines)]
fn scheme_cases(public_url: &str) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let json = br#"{"type":"email.delivered","data":{"email_id":"4ef9a417"}}"#.to_vec();
    let form = b"MessageSid=SM1&MessageStatus=delivered&To=%2B15555550100".to_vec();
    let whsec = StandardWebhooksSigner::new(Secret::from_standard_webhooks(WHSEC)?);
    let ed = StandardWebhooksSigner::new(Ed25519SigningKey::from_seed(ED25519_SEED)?);
    let stripe = StripeVerifier::new(Secret::from_bytes(STRIPE)?);
    let github = GitHubVerifier::new(Secret::from_bytes(GITHUB)?);
    let wrong_github = GitHubVerifier::new(Secret::from_bytes("not-the-secret")?);
    let slack = slack::verifier(Secret::from_bytes(SLACK)?);
    let shopify = shopify::verifier(Secret::from_bytes(SHOPIFY)?);
    let twilio = TwilioVerifier::new(Secret::from_bytes(TWILIO)?);
    let twilio_url = format!("{public_url}/schemes/twilio");
    let twilio_headers = vec![
        (
            "X-Twilio-Signature".to_owned(),
            twilio.sign(&twilio_url, &form)?,
        ),
        (
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ];
    let stripe_headers = || -> Result<Headers, VerifyError> {
        Ok(vec![("Stripe-Signature".into(), stripe.sign(now, &json)?)])
    };
    Ok(vec![
        Case {
            name: s("standard webhooks v1 (hmac)"),
            path: s("/schemes/standard-webhooks"),
            headers: owned(whsec.headers("msg_1", now, &json)?),
            body: json.clone(),
            expect: expect(204),
        },
        Case {
            name: s("standard webhooks v1a (ed25519)"),
            path: s("/schemes/standard-webhooks"),
            headers: owned(ed.headers("msg_2", now, &json)?),
            body: json.clone(),
            expect: expect(204),
        },
        Case {
            name: s("svix-* headers"),
            path: s("/schemes/standard-webhooks"),
            headers: svix(whsec.headers("msg_svix", now, &json)?),
            body: json.clone(),
            expect: expect(204),
        },
        Case {
            name: s("standard webhooks, stale (10 min)"),
            path: s("/schemes/standard-webhooks"),
            headers: owned(whsec.headers("msg_3", now - 600, &json)?),
            body: json.clone(),
            expect: expect(401),
        },
        Case {
            name: s("stripe"),
            path: s("/schemes/stripe"),
            headers: stripe_headers()?,
            body: json.clone(),
            expect: expect(204),
        },
        Case {
            name: s("stripe, tampered body"),
            path: s("/schemes/stripe"),
            headers: stripe_headers()?,
            body: br#"{"type":"email.bounced"}"#.to_vec(),
            expect: expect(401),
        },
        Case {
            name: s("github"),
            path: s("/schemes/github"),
            headers: github.sign(&json)?,
            body: json.clone(),
            expect: expect(204),
        },
        Case {
            name: s("github, wrong secret"),
            path: s("/schemes/github"),
            headers: wrong_github.sign(&json)?,
            body: json.clone(),
            expect: expect(401),
        },
        Case {
            name: s("slack"),
            path: s("/schemes/slack"),
            headers: slack.sign(Some(now), &form)?,
            body: form.clone(),
            expect: expect(204),
        },
        Case {
            name: s("shopify"),
            path: s("/schemes/shopify"),
            headers: shopify.sign(None, &json)?,
            body: json.clone(),
            expect: expect(204),
        },
        Case {
            name: s("shopify, unsigned"),
            path: s("/schemes/shopify"),
            headers: Headers::new(),
            body: json,
            expect: expect(401),
        },
        Case {
            name: s("twilio (form parameters)"),
            path: s("/schemes/twilio"),
            headers: twilio_headers,
            body: form,
            expect: expect(204),
        },
    ])
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tour failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?.to_string();
    let public_url = format!("http://{addr}");

    // SendGrid signs with a key pair whose public half you paste into the
    // receiver; the tour makes a fresh pair. SNS certificates come from the
    // certificate source: a real one fetches the validated https URL.
    let (sendgrid_signer, _) = SendgridSigner::generate()?;
    let certificates = StaticCertificates::new().with(SNS_CERT_URL, SNS_CERT);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let router = app(
        public_url.clone(),
        SendgridVerifier::new(sendgrid_signer.public_key()?),
        certificates,
        &seen,
    )?
    .merge(inbound_app(&public_url, &seen)?);
    let server = runtime.spawn(std::future::IntoFuture::into_future(axum::serve(
        listener, router,
    )));

    let mut cases = provider_cases(&sendgrid_signer)?;
    cases.extend(registry_cases(&public_url)?);
    cases.extend(inbound_cases(&public_url)?);
    cases.extend(scheme_cases(&public_url)?);
    println!("email-webhooks tour: axum receiver on {public_url}, in-memory idempotency store\n");
    println!(
        "{:<46} {:>6} {:>4}  what happened",
        "request", "expect", "got"
    );
    let mut all_ok = true;
    for case in &cases {
        if let Ok(mut seen) = seen.lock() {
            *seen = Seen::default();
        }
        let (status, body) = post_request(&addr, case)?;
        let (ok, detail) = match seen.lock() {
            Ok(seen) => judge(case, status, &body, &seen),
            Err(_) => (false, "the receiver's state was poisoned".to_owned()),
        };
        all_ok &= ok;
        println!(
            "{:<46} {:>6} {:>4}  {}{}",
            case.name,
            case.expect.status,
            status,
            if ok { "" } else { "UNEXPECTED: " },
            detail
        );
    }
    server.abort();
    let (handoff_ok, handoff_requests) = handoff(&runtime)?;
    all_ok &= handoff_ok;
    println!(
        "\n{} requests, {}",
        cases.len() + handoff_requests,
        if all_ok {
            "every outcome was the expected one"
        } else {
            "some outcomes were NOT as expected"
        }
    );
    Ok(all_ok)
}

// --- The durable handoff on SQLite ---

/// A receiver running on the tour's runtime.
type Server = tokio::task::JoinHandle<std::io::Result<()>>;

/// Prints each handoff step and remembers whether all went as expected.
struct Checks(bool);

impl Checks {
    fn check(&mut self, good: bool, what: &str) {
        self.0 &= good;
        println!("  {}{what}", if good { "" } else { "UNEXPECTED: " });
    }
}

/// The handoff receiver on `queue`: Mailjet and GetResponse through the
/// single route; returns its address and the server task.
fn handoff_receiver(
    runtime: &tokio::runtime::Runtime,
    queue: SqliteQueue,
    seen: &Arc<Mutex<Vec<Handled>>>,
) -> Result<(String, Server), Box<dyn std::error::Error>> {
    let providers = Providers::new()
        .with(MailjetVerifier::new(BasicAuth::new(
            MAILJET_USER,
            MAILJET_PASS,
        )?))
        .with(GetresponseVerifier::new(UrlSecret::new(
            &Secret::from_bytes(GETRESPONSE_SECRET)?,
        )));
    let pipeline = Arc::new(Pipeline::new(providers, MemoryStore::new()));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?.to_string();
    let observed = Arc::clone(seen);
    let router = webhooks_handoff_router(pipeline, queue, move |handled| {
        observed.lock().map(|mut s| s.push(handled.clone())).ok();
    })
    .layer(Extension(PublicUrl::new(format!("http://{addr}"))?));
    let server = runtime.spawn(std::future::IntoFuture::into_future(axum::serve(
        listener, router,
    )));
    Ok((addr, server))
}

/// A signed delivery from the provider's simulator, as a tour case.
fn simulated(
    provider: Provider,
    kind: EventKind,
    recipient: &str,
    id: &str,
) -> Result<Case, Box<dyn std::error::Error>> {
    let mut settings = Settings::new();
    settings
        .basic_auth
        .push(format!("{MAILJET_USER}:{MAILJET_PASS}"));
    settings.secrets.push(GETRESPONSE_SECRET.to_owned());
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let info = provider.info().ok_or("a registered provider")?;
    let delivery = (info.simulate)(&Simulation::new(kind, recipient, id, now, &settings))?;
    let path = match &delivery.query {
        Some(query) => format!("/webhooks/{provider}?{query}"),
        None => format!("/webhooks/{provider}"),
    };
    Ok(Case {
        name: s("handoff"),
        path,
        headers: delivery.headers,
        body: delivery.body,
        expect: events(1, 0),
    })
}

/// Deliveries answered as soon as their events are in the SQLite file; the
/// receiver restarted; a redelivery acknowledged as a duplicate; a worker
/// handling every event once. Returns whether all went as expected and how
/// many requests were sent.
fn handoff(runtime: &tokio::runtime::Runtime) -> Result<(bool, usize), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!(
        "email-webhooks-tour-{}-{}",
        std::process::id(),
        OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("queue.db");
    println!(
        "\nDurable handoff: the receiver enqueues in {} and answers at once",
        path.display()
    );
    let mut checks = Checks(true);

    let deliveries = [
        simulated(
            Provider::Mailjet,
            EventKind::Bounced,
            "hard@example.com",
            "ho-1",
        )?,
        simulated(
            Provider::Mailjet,
            EventKind::Complained,
            "angry@example.com",
            "ho-2",
        )?,
        simulated(
            Provider::Mailjet,
            EventKind::Opened,
            "reader@example.com",
            "ho-3",
        )?,
        simulated(
            Provider::Getresponse,
            EventKind::Unsubscribed,
            "leaving@example.com",
            "ho-4",
        )?,
        simulated(
            Provider::Getresponse,
            EventKind::Clicked,
            "clicker@example.com",
            "ho-5",
        )?,
    ];
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (addr, server) = handoff_receiver(runtime, SqliteQueue::open(&path)?, &seen)?;
    for case in &deliveries {
        let started = std::time::Instant::now();
        let (status, _) = post_request(&addr, case)?;
        let took = started.elapsed();
        let enqueued = seen.lock().ok().and_then(|s| s.last().map(|h| h.enqueued));
        checks.check(
            status == 200 && enqueued == Some(1),
            &format!(
                "{:<46} answered {status} in {:.1} ms, 1 event enqueued (the handler has not run)",
                case.path.split('?').next().unwrap_or_default(),
                took.as_secs_f64() * 1000.0
            ),
        );
    }

    // The receiver stops (a deploy, a crash): the queue is a file, the
    // events are in it.
    server.abort();
    let _ = runtime.block_on(server);
    let queue = SqliteQueue::open(&path)?;
    let counts = runtime.block_on(queue.counts())?;
    checks.check(
        counts.ready == 5,
        &format!(
            "receiver restarted: {} events waiting in the queue, none lost",
            counts.ready
        ),
    );
    let (addr, server) = handoff_receiver(runtime, queue.clone(), &seen)?;
    // The provider retries the first delivery (it timed out on its side).
    let (status, _) = post_request(&addr, &deliveries[0])?;
    let duplicates = seen
        .lock()
        .ok()
        .and_then(|s| s.last().map(|h| h.duplicates));
    checks.check(
        status == 200 && duplicates == Some(1),
        &format!(
            "the provider's redelivery of the first: answered {status}, a duplicate, not enqueued again"
        ),
    );
    server.abort();

    work_off(runtime, &queue, &mut checks)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((checks.0, deliveries.len() + 1))
}

/// The worker drains the queue: a slow handler (a CRM call), 4 at a time,
/// retries with backoff, dead letters after 8 attempts.
fn work_off(
    runtime: &tokio::runtime::Runtime,
    queue: &SqliteQueue,
    checks: &mut Checks,
) -> Result<(), Box<dyn std::error::Error>> {
    let handled = Mutex::new(Vec::new());
    let report = runtime.block_on(
        Worker::new(queue.clone())
            .with_concurrency(4)
            .with_poll_interval(Duration::from_millis(20))
            .run_until_idle(|event| {
                let note = format!(
                    "{} {} → {:?}",
                    event.kind,
                    event.recipient.as_deref().unwrap_or("-"),
                    event.suppression()
                );
                handled.lock().map(|mut h| h.push(note)).ok();
                async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<(), Infallible>(())
                }
            }),
    );
    let mut notes = handled.into_inner().unwrap_or_default();
    notes.sort();
    for note in &notes {
        println!("    worker handled {note}");
    }
    let counts = runtime.block_on(queue.counts())?;
    checks.check(
        report.handled == 5 && notes.len() == 5 && counts.done == 5 && counts.ready == 0,
        &format!(
            "the worker handled {} events, each once (200 ms each, 4 at a time); {} done in the queue",
            report.handled, counts.done
        ),
    );
    Ok(())
}
