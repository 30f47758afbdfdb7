//! A self-contained tour: starts a tiny HTTP receiver on an ephemeral
//! 127.0.0.1 port, sends it real signed webhooks from every email provider
//! and scheme mailhook supports (plus tampered, stale, wrong-key, unsigned
//! and untrusted ones), and prints what happened to each. Exits 0 only if
//! every outcome is the expected one.
//!
//! Run: `cargo run --example tour`
//!
//! The receiver is plain `std::net` so the tour needs no web framework; the
//! verification calls are exactly what a real handler makes.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use mailhook::provider::mailgun::MailgunVerifier;
use mailhook::provider::postmark::PostmarkVerifier;
use mailhook::provider::resend::ResendVerifier;
use mailhook::provider::sendgrid::{SendgridSigner, SendgridVerifier};
use mailhook::provider::ses::{SesOutcome, SesVerifier};
use mailhook::provider::sns::{SnsEnvelope, SnsVerifier, StaticCertificates};
use mailhook::scheme::github::GitHubVerifier;
use mailhook::scheme::standard::{StandardWebhooks, StandardWebhooksSigner};
use mailhook::scheme::stripe::StripeVerifier;
use mailhook::scheme::twilio::TwilioVerifier;
use mailhook::scheme::{shopify, slack};
use mailhook::{BasicAuth, Ed25519SigningKey, EmailEvent, Secret, VerifyError};
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
// A self-signed test certificate standing in for Amazon SNS's (see
// tests/data/README.md); the tour serves it through the certificate source.
const SNS_CERT: &[u8] = include_bytes!("../tests/data/sns-test-cert.pem");
const SNS_KEY: &[u8] = include_bytes!("../tests/data/sns-test-key.pk8");
const SNS_CERT_URL: &str = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-tour.pem";

type Headers = Vec<(String, String)>;

/// The receiver's verifiers, built once at start-up.
struct Receiver {
    standard: StandardWebhooks,
    stripe: StripeVerifier,
    github: GitHubVerifier,
    slack: mailhook::scheme::hmac::HmacVerifier,
    shopify: mailhook::scheme::hmac::HmacVerifier,
    twilio: TwilioVerifier,
    sendgrid: SendgridVerifier,
    mailgun: MailgunVerifier,
    postmark: PostmarkVerifier,
    resend: ResendVerifier,
    ses: SesVerifier<StaticCertificates>,
    public_url: String,
}

/// Runs a future whose I/O is already done (the static certificate source
/// answers at once); a real server awaits it on its runtime instead.
fn block_on<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

fn summary(events: &[EmailEvent]) -> String {
    let kinds: Vec<String> = events
        .iter()
        .map(|e| format!("{:?}", e.kind).to_lowercase())
        .collect();
    format!("{} event(s): {}", events.len(), kinds.join(", "))
}

impl Receiver {
    fn new(
        public_url: String,
        sendgrid: SendgridVerifier,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let ed = Ed25519SigningKey::from_seed(ED25519_SEED)?;
        let certificates = StaticCertificates::new().with(SNS_CERT_URL, SNS_CERT);
        Ok(Self {
            standard: StandardWebhooks::new(Secret::from_standard_webhooks(WHSEC)?)
                .with_key(ed.public_key().clone()),
            stripe: StripeVerifier::new(Secret::from_bytes(STRIPE)?),
            github: GitHubVerifier::new(Secret::from_bytes(GITHUB)?),
            slack: slack::verifier(Secret::from_bytes(SLACK)?),
            shopify: shopify::verifier(Secret::from_bytes(SHOPIFY)?),
            twilio: TwilioVerifier::new(Secret::from_bytes(TWILIO)?),
            sendgrid,
            mailgun: MailgunVerifier::new(Secret::from_bytes(MAILGUN)?),
            postmark: PostmarkVerifier::new(BasicAuth::new(POSTMARK_USER, POSTMARK_PASS)?),
            resend: ResendVerifier::new(Secret::from_standard_webhooks(WHSEC)?),
            ses: SesVerifier::new(SnsVerifier::new(certificates)),
            public_url,
        })
    }

    /// What a handler does: pick the verifier for the route, verify the raw
    /// body, answer 204 or a status with the error code.
    fn handle(&self, path: &str, headers: &Headers, body: &[u8]) -> (u16, String) {
        let now = time::OffsetDateTime::now_utc();
        let provider = match path {
            "/sendgrid" => Some(self.sendgrid.verify_and_parse_at(headers, body, now)),
            "/mailgun" => Some(self.mailgun.verify_and_parse_at(headers, body, now)),
            "/postmark" => Some(self.postmark.verify_and_parse(headers, body)),
            "/resend" => Some(self.resend.verify_and_parse_at(headers, body, now)),
            "/ses" => match block_on(self.ses.verify_and_parse_at(headers, body, now)) {
                Some(Ok(SesOutcome::Events(events))) => Some(Ok(events)),
                Some(Ok(SesOutcome::SubscriptionConfirmation { .. })) => {
                    return (
                        200,
                        "subscription confirmation (left for you to confirm)".into(),
                    );
                }
                Some(Ok(_)) => Some(Ok(Vec::new())),
                Some(Err(e)) => Some(Err(e)),
                None => return (503, "certificate fetch pending".into()),
            },
            _ => None,
        };
        if let Some(result) = provider {
            return match result {
                Ok(events) => (200, summary(&events)),
                Err(e) => (e.http_status(), e.code().into()),
            };
        }
        let result = match path {
            "/standard-webhooks" => self.standard.verify(headers, body).map(|v| v.key_index()),
            "/stripe" => self.stripe.verify(headers, body).map(|v| v.key_index()),
            "/github" => self.github.verify(headers, body).map(|v| v.key_index()),
            "/slack" => self.slack.verify(headers, body).map(|v| v.key_index()),
            "/shopify" => self.shopify.verify(headers, body).map(|v| v.key_index()),
            "/twilio" => {
                let url = format!("{}/twilio", self.public_url);
                self.twilio
                    .verify(headers, &url, body)
                    .map(|v| v.key_index())
            }
            _ => return (404, "no such route".into()),
        };
        match result {
            Ok(_) => (204, String::new()),
            Err(e) => status_for(&e),
        }
    }
}

/// The status the crate maps each error to ([`mailhook::Error::http_status`]).
fn status_for(e: &VerifyError) -> (u16, String) {
    let error = mailhook::Error::Verify(e.clone());
    (error.http_status(), e.code().into())
}

/// An SNS envelope around `message`, signed with the test key.
fn sns_envelope(fields: serde_json::Value) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut envelope = fields;
    envelope["SignatureVersion"] = "2".into();
    envelope["SigningCertURL"] = SNS_CERT_URL.into();
    let parsed: SnsEnvelope = serde_json::from_value(envelope.clone())?;
    let text = parsed.string_to_sign()?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(SNS_KEY).map_err(|e| e.to_string())?;
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        text.as_bytes(),
        &mut signature,
    )
    .map_err(|e| e.to_string())?;
    envelope["Signature"] = base64::engine::general_purpose::STANDARD
        .encode(signature)
        .into();
    Ok(envelope.to_string().into_bytes())
}

/// Reads one HTTP/1.1 request (Content-Length bodies only) and answers it.
fn serve_one(receiver: &Receiver, stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut headers = Headers::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((k, v)) = trimmed.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len.min(5 * 1024 * 1024)];
    reader.read_exact(&mut body)?;
    let (status, text) = receiver.handle(&path, &headers, &body);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    )
}

/// Posts `body` with `headers` to the receiver; returns status and body.
fn post(addr: &str, path: &str, headers: &Headers, body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(k);
        request.push_str(": ");
        request.push_str(v);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let text = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Ok((status, text))
}

struct Case {
    name: &'static str,
    path: &'static str,
    headers: Headers,
    body: Vec<u8>,
    expect: u16,
}

// One table of requests; splitting it would only scatter it.
#[allow(clippy::too_many_lines)]
fn cases(
    public_url: &str,
    sendgrid: &SendgridSigner,
) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let json = br#"{"type":"email.delivered","data":{"email_id":"4ef9a417"}}"#.to_vec();
    let form = b"MessageSid=SM1&MessageStatus=delivered&To=%2B15555550100".to_vec();
    let owned = |pairs: [(&'static str, String); 3]| -> Headers {
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    };
    let whsec = StandardWebhooksSigner::new(Secret::from_standard_webhooks(WHSEC)?);
    let ed = StandardWebhooksSigner::new(Ed25519SigningKey::from_seed(ED25519_SEED)?);
    let stripe = StripeVerifier::new(Secret::from_bytes(STRIPE)?);
    let github = GitHubVerifier::new(Secret::from_bytes(GITHUB)?);
    let slack = slack::verifier(Secret::from_bytes(SLACK)?);
    let shopify = shopify::verifier(Secret::from_bytes(SHOPIFY)?);
    let twilio = TwilioVerifier::new(Secret::from_bytes(TWILIO)?);
    let twilio_url = format!("{public_url}/twilio");
    let twilio_headers = |sig: String| -> Headers {
        vec![
            ("X-Twilio-Signature".into(), sig),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ]
    };
    let svix: Headers = owned(whsec.headers("msg_svix", now, &json)?)
        .into_iter()
        .map(|(k, v)| (k.replace("webhook-", "svix-"), v))
        .collect();
    let wrong_github = GitHubVerifier::new(Secret::from_bytes("not-the-secret")?);

    // Email providers.
    let sendgrid_batch = format!(
        r#"[{{"email":"a@example.com","timestamp":{now},"event":"delivered","sg_event_id":"e1","sg_message_id":"m1"}},{{"email":"b@example.com","timestamp":{now},"event":"bounce","type":"blocked","sg_event_id":"e2","sg_message_id":"m1"}},{{"email":"c@example.com","timestamp":{now},"event":"open","sg_event_id":"e3","sg_message_id":"m1"}}]"#
    )
    .into_bytes();
    let mailgun = MailgunVerifier::new(Secret::from_bytes(MAILGUN)?);
    let mailgun_body = mailgun
        .sign(now, "tour-token-1", &serde_json::json!({
            "event": "failed", "severity": "permanent", "reason": "bounce", "id": "mg-1",
            "recipient": "d@example.com", "message": {"headers": {"message-id": "m2@example.com"}}
        }))?
        .to_string()
        .into_bytes();
    let postmark_body = br#"{"RecordType":"SpamComplaint","ID":42,"Type":"SpamComplaint","Email":"e@example.com","MessageID":"m3","BouncedAt":"2024-01-01T00:00:00Z"}"#.to_vec();
    let basic = |user: &str, pass: &str| -> Headers {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        vec![("Authorization".into(), format!("Basic {b64}"))]
    };
    let resend_body = br#"{"type":"email.clicked","created_at":"2024-01-01T00:00:00Z","data":{"email_id":"re-1","to":["f@example.com"],"click":{"link":"https://example.com"}}}"#.to_vec();
    let resend_headers: Headers = owned(whsec.headers("msg_resend", now, &resend_body)?)
        .into_iter()
        .map(|(k, v)| (k.replace("webhook-", "svix-"), v))
        .collect();
    let ses_message = serde_json::json!({
        "notificationType": "Bounce",
        "mail": {"messageId": "ses-1", "destination": ["g@example.com", "h@example.com"]},
        "bounce": {"bounceType": "Permanent", "bounceSubType": "General", "bouncedRecipients": [
            {"emailAddress": "g@example.com", "diagnosticCode": "smtp; 550 5.1.1 user unknown"},
            {"emailAddress": "h@example.com", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}
    });
    let ses_body = sns_envelope(serde_json::json!({
        "Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:eu-west-1:1:ses",
        "Message": ses_message.to_string(), "Timestamp": "2024-01-01T00:00:00.000Z",
    }))?;
    let ses_subscription = sns_envelope(serde_json::json!({
        "Type": "SubscriptionConfirmation", "MessageId": "sns-2", "TopicArn": "arn:aws:sns:eu-west-1:1:ses",
        "Message": "You have chosen to subscribe.", "Token": "tok",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok",
        "Timestamp": "2024-01-01T00:00:00.000Z",
    }))?;
    let untrusted = String::from_utf8(ses_body.clone())?
        .replace(
            SNS_CERT_URL,
            "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        )
        .into_bytes();

    Ok(vec![
        Case {
            name: "standard webhooks v1 (hmac)",
            path: "/standard-webhooks",
            headers: owned(whsec.headers("msg_1", now, &json)?),
            body: json.clone(),
            expect: 204,
        },
        Case {
            name: "standard webhooks v1a (ed25519)",
            path: "/standard-webhooks",
            headers: owned(ed.headers("msg_2", now, &json)?),
            body: json.clone(),
            expect: 204,
        },
        Case {
            name: "svix-* headers (resend, svix)",
            path: "/standard-webhooks",
            headers: svix,
            body: json.clone(),
            expect: 204,
        },
        Case {
            name: "stripe",
            path: "/stripe",
            headers: vec![("Stripe-Signature".into(), stripe.sign(now, &json)?)],
            body: json.clone(),
            expect: 204,
        },
        Case {
            name: "github",
            path: "/github",
            headers: github.sign(&json)?,
            body: json.clone(),
            expect: 204,
        },
        Case {
            name: "slack",
            path: "/slack",
            headers: slack.sign(Some(now), &form)?,
            body: form.clone(),
            expect: 204,
        },
        Case {
            name: "shopify",
            path: "/shopify",
            headers: shopify.sign(None, &json)?,
            body: json.clone(),
            expect: 204,
        },
        Case {
            name: "twilio (form parameters)",
            path: "/twilio",
            headers: twilio_headers(twilio.sign(&twilio_url, &form)?),
            body: form.clone(),
            expect: 204,
        },
        Case {
            name: "tampered body (stripe)",
            path: "/stripe",
            headers: vec![("Stripe-Signature".into(), stripe.sign(now, &json)?)],
            body: br#"{"type":"email.bounced"}"#.to_vec(),
            expect: 401,
        },
        Case {
            name: "stale timestamp, 10 min old",
            path: "/standard-webhooks",
            headers: owned(whsec.headers("msg_3", now - 600, &json)?),
            body: json.clone(),
            expect: 401,
        },
        Case {
            name: "wrong secret (github)",
            path: "/github",
            headers: wrong_github.sign(&json)?,
            body: json.clone(),
            expect: 401,
        },
        Case {
            name: "unsigned request",
            path: "/shopify",
            headers: Headers::new(),
            body: json,
            expect: 401,
        },
        Case {
            name: "sendgrid batch (p-256)",
            path: "/sendgrid",
            headers: sendgrid.headers(now, &sendgrid_batch)?,
            body: sendgrid_batch.clone(),
            expect: 200,
        },
        Case {
            name: "sendgrid, tampered batch",
            path: "/sendgrid",
            headers: sendgrid.headers(now, &sendgrid_batch)?,
            body: sendgrid_batch[1..].to_vec(),
            expect: 401,
        },
        Case {
            name: "mailgun",
            path: "/mailgun",
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: mailgun_body,
            expect: 200,
        },
        Case {
            name: "postmark (basic auth)",
            path: "/postmark",
            headers: basic(POSTMARK_USER, POSTMARK_PASS),
            body: postmark_body.clone(),
            expect: 200,
        },
        Case {
            name: "postmark, wrong credentials",
            path: "/postmark",
            headers: basic(POSTMARK_USER, "guess"),
            body: postmark_body,
            expect: 401,
        },
        Case {
            name: "resend",
            path: "/resend",
            headers: resend_headers,
            body: resend_body,
            expect: 200,
        },
        Case {
            name: "amazon ses via sns",
            path: "/ses",
            headers: vec![("x-amz-sns-message-type".into(), "Notification".into())],
            body: ses_body,
            expect: 200,
        },
        Case {
            name: "sns subscription confirmation",
            path: "/ses",
            headers: Headers::new(),
            body: ses_subscription,
            expect: 200,
        },
        Case {
            name: "sns, untrusted certificate url",
            path: "/ses",
            headers: Headers::new(),
            body: untrusted,
            expect: 401,
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
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let public_url = format!("http://{addr}");
    // SendGrid signs with a key pair whose public half you paste into the
    // receiver; the tour makes a fresh pair.
    let (sendgrid_signer, _) = SendgridSigner::generate()?;
    let cases = cases(&public_url, &sendgrid_signer)?;
    let receiver = Receiver::new(
        public_url,
        SendgridVerifier::new(sendgrid_signer.public_key()?),
    )?;
    let expected_requests = cases.len();
    let server = thread::spawn(move || {
        for stream in listener.incoming().take(expected_requests) {
            if let Err(e) = stream.and_then(|s| serve_one(&receiver, s)) {
                eprintln!("receiver: {e}");
            }
        }
    });

    println!("mailhook tour: receiver on http://{addr}\n");
    println!("{:<34} {:>8} {:>8}  detail", "request", "expected", "got");
    let mut all_ok = true;
    for case in &cases {
        let (status, detail) = post(&addr, case.path, &case.headers, &case.body)?;
        let ok = status == case.expect;
        all_ok &= ok;
        let mark = if ok { "ok" } else { "UNEXPECTED" };
        println!(
            "{:<34} {:>8} {:>8}  {} {}",
            case.name, case.expect, status, mark, detail
        );
    }
    server.join().map_err(|_| "receiver thread panicked")?;
    println!(
        "\n{}",
        if all_ok {
            "every outcome was the expected one"
        } else {
            "some outcomes were NOT as expected"
        }
    );
    Ok(all_ok)
}
