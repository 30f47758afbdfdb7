//! A self-contained tour: starts a tiny HTTP receiver on an ephemeral
//! 127.0.0.1 port, sends it real signed webhooks for every scheme mailhook
//! supports (plus a tampered, a stale, a wrong-key and an unsigned one), and
//! prints what happened to each. Exits 0 only if every outcome is the
//! expected one.
//!
//! Run: `cargo run --example tour`
//!
//! The receiver is plain `std::net` so the tour needs no web framework; the
//! verification calls are exactly what a real handler makes.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;

use mailhook::scheme::github::GitHubVerifier;
use mailhook::scheme::standard::{StandardWebhooks, StandardWebhooksSigner};
use mailhook::scheme::stripe::StripeVerifier;
use mailhook::scheme::twilio::TwilioVerifier;
use mailhook::scheme::{shopify, slack};
use mailhook::{Ed25519SigningKey, Secret, VerifyError};
use time::OffsetDateTime;

// Test secrets, embedded so the tour runs anywhere. Never use these for real.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STRIPE: &str = "whsec_tour_stripe_secret";
const GITHUB: &str = "tour-github-secret";
const SLACK: &str = "tour-slack-signing-secret";
const SHOPIFY: &str = "tour-shopify-secret";
const TWILIO: &str = "tour-twilio-auth-token";
const ED25519_SEED: [u8; 32] = [42; 32];

type Headers = Vec<(String, String)>;

/// The receiver's verifiers, built once at start-up.
struct Receiver {
    standard: StandardWebhooks,
    stripe: StripeVerifier,
    github: GitHubVerifier,
    slack: mailhook::scheme::hmac::HmacVerifier,
    shopify: mailhook::scheme::hmac::HmacVerifier,
    twilio: TwilioVerifier,
    public_url: String,
}

impl Receiver {
    fn new(public_url: String) -> Result<Self, Box<dyn std::error::Error>> {
        let ed = Ed25519SigningKey::from_seed(ED25519_SEED)?;
        Ok(Self {
            standard: StandardWebhooks::new(Secret::from_standard_webhooks(WHSEC)?)
                .with_key(ed.public_key().clone()),
            stripe: StripeVerifier::new(Secret::from_bytes(STRIPE)?),
            github: GitHubVerifier::new(Secret::from_bytes(GITHUB)?),
            slack: slack::verifier(Secret::from_bytes(SLACK)?),
            shopify: shopify::verifier(Secret::from_bytes(SHOPIFY)?),
            twilio: TwilioVerifier::new(Secret::from_bytes(TWILIO)?),
            public_url,
        })
    }

    /// What a handler does: pick the verifier for the route, verify the raw
    /// body, answer 204 or a status with the error code.
    fn handle(&self, path: &str, headers: &Headers, body: &[u8]) -> (u16, String) {
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
            Err(e @ VerifyError::BodyTooLarge { .. }) => (413, e.code().into()),
            Err(e @ (VerifyError::MissingHeader { .. } | VerifyError::MalformedHeader { .. })) => {
                (400, e.code().into())
            }
            Err(e) => (401, e.code().into()),
        }
    }
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
fn cases(public_url: &str) -> Result<Vec<Case>, Box<dyn std::error::Error>> {
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
            expect: 400,
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
    let cases = cases(&public_url)?;
    let receiver = Receiver::new(public_url)?;
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
