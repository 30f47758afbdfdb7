//! The `email-webhooks` binary: every shared vector through `email-webhooks verify`, the
//! exit-code contract, and sign → verify round trips for every scheme.
#![cfg(feature = "cli")]
// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn run(args: &[&str], stdin: &[u8]) -> (i32, Value, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_email-webhooks"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn email-webhooks");
    // The tool may exit before reading stdin (body from --body, usage errors).
    match child.stdin.take().expect("stdin").write_all(stdin) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.expect("write body"),
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait");
    let json = if stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}",
                String::from_utf8_lossy(&stdout)
            )
        })
    };
    (
        status.code().expect("exit code"),
        json,
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn vector_args(v: &common::Vector) -> Vec<String> {
    let scheme = if v.scheme == "standard-webhooks-v1a" {
        "standard-webhooks"
    } else {
        v.scheme.as_str()
    };
    let mut args = vec![
        "verify".to_owned(),
        "--scheme".to_owned(),
        scheme.to_owned(),
    ];
    if v.secret.starts_with("whpk_") {
        args.extend(["--key".to_owned(), v.secret.clone()]);
    } else {
        args.extend(["--secret".to_owned(), v.secret.clone()]);
    }
    for (k, val) in v.header_pairs() {
        args.extend(["--header".to_owned(), format!("{k}: {val}")]);
    }
    if let Some(now) = v.now {
        args.extend(["--now".to_owned(), now.to_string()]);
    }
    if let Some(url) = &v.url {
        args.extend(["--url".to_owned(), url.clone()]);
    }
    args
}

#[test]
fn every_vector_verifies_through_the_cli() {
    let mut files: Vec<_> = std::fs::read_dir(common::vector_dir())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.len() >= 8);
    for file in files {
        let v = common::Vector::load(&file);
        let args = vector_args(&v);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run(&args, v.body.as_bytes());
        if v.expect == "valid" {
            assert_eq!(
                (code, &out["valid"]),
                (0, &Value::Bool(true)),
                "{file}: {out} {err}"
            );
        } else {
            assert_eq!(code, 1, "{file}");
            assert_eq!(out["error"]["code"], v.expect.as_str(), "{file}");
        }
    }
}

#[test]
fn a_tampered_vector_body_exits_1_with_invalid_signature() {
    let v = common::Vector::load("stripe-01.json");
    let args = vector_args(&v);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = run(&args, format!("{} ", v.body).as_bytes());
    assert_eq!(code, 1);
    assert_eq!(out["valid"], false);
    assert_eq!(out["error"]["code"], "invalid_signature");
    assert_eq!(out["error"]["message"], "signature does not match");
}

#[test]
fn a_stale_vector_without_now_is_too_old_and_passes_with_no_replay_check() {
    let v = common::Vector::load("standard-webhooks-01.json");
    let mut args = vector_args(&v);
    let at = args.iter().position(|a| a == "--now").expect("--now");
    args.drain(at..at + 2);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = run(&a, v.body.as_bytes());
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (1, Some("timestamp_too_old"))
    );
    args.push("--no-replay-check".to_owned());
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = run(&a, v.body.as_bytes());
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["id"], "msg_p5jXN8AQM9LWM0D4loKWxJek");
    assert_eq!(out["timestamp"], "2021-02-25T15:02:10Z");
    assert_eq!(out["unix_timestamp"], 1_614_265_330);
}

#[test]
fn tolerance_widens_the_window() {
    let v = common::Vector::load("slack-01.json");
    let mut args = vector_args(&v);
    let at = args.iter().position(|a| a == "--now").expect("--now");
    args[at + 1] = (v.now.expect("now") + 400).to_string();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(run(&a, v.body.as_bytes()).0, 1);
    args.extend(["--tolerance".to_owned(), "400".to_owned()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(run(&a, v.body.as_bytes()).0, 0);
}

#[test]
fn body_is_read_from_a_file_and_limited_by_max_body() {
    let v = common::Vector::load("github-01.json");
    let dir = std::env::temp_dir().join(format!("email-webhooks-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("body");
    std::fs::write(&path, &v.body).expect("write");
    let mut args = vector_args(&v);
    args.extend(["--body".to_owned(), path.display().to_string()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(run(&a, b"ignored stdin").0, 0);
    args.extend(["--max-body".to_owned(), "5".to_owned()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = run(&a, b"");
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (1, Some("body_too_large"))
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn rotated_secrets_report_the_matching_index() {
    let v = common::Vector::load("shopify-01.json");
    let mut args = vector_args(&v);
    args.splice(3..3, ["--secret".to_owned(), "old-secret".to_owned()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = run(&a, v.body.as_bytes());
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["key_index"], 1);
}

#[test]
fn usage_errors_exit_2_with_a_message_on_stderr() {
    let cases: [&[&str]; 5] = [
        &["verify", "--scheme", "stripe"],
        &["verify", "--scheme", "nope", "--secret", "s"],
        &[
            "verify", "--scheme", "github", "--secret", "s", "--header", "no-colon",
        ],
        &["verify", "--scheme", "twilio", "--secret", "s"],
        &[
            "verify",
            "--scheme",
            "stripe",
            "--secret",
            "s",
            "--tolerance",
            "5",
            "--no-replay-check",
        ],
    ];
    for args in cases {
        let (code, out, err) = run(args, b"");
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(out, Value::Null, "{args:?}");
        assert!(!err.is_empty(), "{args:?}");
    }
}

#[test]
fn an_invalid_secret_is_a_json_error_not_a_crash() {
    let (code, out, _) = run(
        &[
            "verify",
            "--scheme",
            "svix",
            "--secret",
            "whsec_%%%",
            "--header",
            "webhook-id: x",
        ],
        b"",
    );
    assert_eq!(code, 1);
    assert_eq!(out["error"]["code"], "invalid_secret");
}

#[test]
fn sign_then_verify_round_trips_for_every_scheme() {
    let body = b"From=%2B1555&Body=hi";
    for (scheme, secret) in [
        (
            "standard-webhooks",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        ("svix", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("stripe", "whsec_stripe_is_raw"),
        ("github", "gh"),
        ("slack", "sl"),
        ("shopify", "sh"),
        ("twilio", "tw"),
    ] {
        let url = "https://example.com/hook";
        let (code, signed, err) = run(
            &[
                "sign",
                "--scheme",
                scheme,
                "--secret",
                secret,
                "--timestamp",
                "1700000000",
                "--url",
                url,
            ],
            body,
        );
        assert_eq!(code, 0, "{scheme}: {err}");
        let mut args: Vec<String> = [
            "verify",
            "--scheme",
            scheme,
            "--secret",
            secret,
            "--now",
            "1700000000",
            "--url",
            url,
        ]
        .map(str::to_owned)
        .to_vec();
        for (k, v) in signed["headers"].as_object().expect("headers") {
            args.extend([
                "--header".to_owned(),
                format!("{k}: {}", v.as_str().expect("str")),
            ]);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run(&a, body);
        assert_eq!(code, 0, "{scheme}: {out} {err}");
        assert_eq!(
            out["scheme"],
            if scheme == "svix" {
                "standard-webhooks"
            } else {
                scheme
            }
        );
        let (code, out, _) = run(&a, b"From=%2B1555&Body=hi2");
        assert_eq!(
            (code, out["error"]["code"].as_str()),
            (1, Some("invalid_signature")),
            "{scheme}"
        );
    }
}

#[test]
fn v1a_sign_with_a_signing_key_verifies_with_its_public_key() {
    let v = common::Vector::load("standard-webhooks-v1a-01.json");
    let sk = format!("whsk_{}", v.signing_key_base64.as_deref().expect("sk"));
    let (code, signed, _) = run(
        &[
            "sign",
            "--scheme",
            "standard-webhooks",
            "--key",
            &sk,
            "--id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "--timestamp",
            "1614265330",
        ],
        v.body.as_bytes(),
    );
    assert_eq!(code, 0);
    assert_eq!(
        signed["headers"]["webhook-signature"],
        v.headers["webhook-signature"]
    );
}

/// DESIGN's `--key` takes base64 DER or PEM: an Ed25519 public key for
/// Standard Webhooks is read as `whpk_`, hex, base64 SPKI DER or PEM (only
/// `whpk_` and its base64 were, the rest `invalid_secret`).
#[test]
fn v1a_public_keys_are_read_in_every_form_they_are_kept_in() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let v = common::Vector::load("standard-webhooks-v1a-01.json");
    let raw = b64
        .decode(v.secret.strip_prefix("whpk_").expect("whpk_"))
        .expect("base64");
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(&raw);
    let hex = raw.iter().fold(String::new(), |mut hex, b| {
        std::fmt::Write::write_fmt(&mut hex, format_args!("{b:02x}")).expect("write");
        hex
    });
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        b64.encode(&spki)
    );
    for key in [v.secret.clone(), hex, b64.encode(&spki), pem] {
        let mut args = vector_args(&v);
        let at = args.iter().position(|a| a == "--key").expect("--key");
        args[at + 1].clone_from(&key);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run(&a, v.body.as_bytes());
        assert_eq!(
            (code, &out["valid"]),
            (0, &Value::Bool(true)),
            "{key}: {out} {err}"
        );
    }
}

// --- Email providers ---

fn unix_of(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .expect("rfc3339")
        .unix_timestamp()
}

/// The CLI arguments for a provider vector, evaluated at its own time.
fn provider_args(file: &str) -> Vec<String> {
    let v = common::Vector::load_provider(file);
    let body: Value = serde_json::from_str(&v.body).unwrap_or(Value::Null);
    let (scheme, key_flag, now) = match v.scheme.as_str() {
        "sendgrid" => (
            "sendgrid",
            "--key",
            v.headers
                .get("X-Twilio-Email-Event-Webhook-Timestamp")
                .or_else(|| v.headers.get("x-twilio-email-event-webhook-timestamp"))
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok()),
        ),
        "mailgun" => (
            "mailgun",
            "--secret",
            body["signature"]["timestamp"]
                .as_str()
                .and_then(|t| t.parse().ok()),
        ),
        "amazon-ses-sns" => ("sns", "--key", body["Timestamp"].as_str().map(unix_of)),
        "resend" => ("resend", "--secret", v.now),
        "mandrill" => ("mandrill", "--secret", None),
        other => panic!("no CLI scheme for {other}"),
    };
    let mut args = vec![
        "verify".to_owned(),
        "--scheme".to_owned(),
        scheme.to_owned(),
        key_flag.to_owned(),
        v.secret.clone(),
    ];
    for (k, val) in v.header_pairs() {
        args.extend(["--header".to_owned(), format!("{k}: {val}")]);
    }
    if let Some(now) = now {
        args.extend(["--now".to_owned(), now.to_string()]);
    }
    if let Some(topic) = body["TopicArn"].as_str() {
        args.extend(["--topic".to_owned(), topic.to_owned()]);
    }
    if let Some(url) = &v.url {
        args.extend(["--url".to_owned(), url.clone()]);
    }
    args
}

#[test]
fn every_provider_vector_verifies_through_the_cli() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/providers");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| {
            std::path::Path::new(n)
                .extension()
                .is_some_and(|e| e == "json")
        })
        .collect();
    files.sort();
    assert_eq!(files.len(), 7);
    for file in files {
        let v = common::Vector::load_provider(&file);
        let args = provider_args(&file);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = run(&a, v.body.as_bytes());
        assert_eq!(v.expect, "valid");
        assert_eq!(
            (code, &out["valid"]),
            (0, &Value::Bool(true)),
            "{file}: {out} {err}"
        );
        // A changed body is refused (for Mailgun, whose data is unsigned, the
        // signature fields are what changes).
        let tampered = v
            .body
            .replacen('e', "f", 1)
            .replacen("9cfc5c41", "9cfc5c42", 1);
        let (code, out, _) = run(&a, tampered.as_bytes());
        assert_eq!(code, 1, "{file}: {out}");
    }
}

#[test]
fn sendgrid_events_carry_idempotency_keys() {
    let args = provider_args("sendgrid-2.json");
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let v = common::Vector::load_provider("sendgrid-2.json");
    let (code, out, _) = run(&a, v.body.as_bytes());
    assert_eq!(code, 0);
    let events = out["events"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["provider"], "sendgrid");
    assert_eq!(events[0]["event_type"], "queued");
    assert!(events[0]["event_id"].is_string());
    // A digest of the event, not its `sg_event_id` (new on each duplicate).
    let key = events[0]["idempotency_key"].as_str().expect("key");
    assert!(key.starts_with("sendgrid:sha256:"), "{key}");
    assert_ne!(events[0]["idempotency_key"], events[1]["idempotency_key"]);
    assert_eq!(out["unix_timestamp"], 1_619_651_159);
}

#[test]
fn parse_prints_events_without_verification() {
    let sample = common::Sample::load("sendgrid-all-events.json");
    let (code, out, _) = run(&["parse", "--provider", "sendgrid"], sample.body.as_bytes());
    assert_eq!(code, 0);
    assert_eq!(out["events"].as_array().map(Vec::len), Some(11));
    assert_eq!(out["events"][6]["reject_reason"], "bounced");
    assert_eq!(out["events"][0]["timestamp"], "2017-12-15T00:59:29Z");

    let resend = common::Sample::load("resend-bounced.json");
    let (code, out, _) = run(
        &[
            "parse",
            "--provider",
            "resend",
            "--header",
            "svix-id: msg_9",
        ],
        resend.body.as_bytes(),
    );
    assert_eq!(code, 0);
    assert_eq!(out["events"][0]["idempotency_key"], "resend:msg_9");

    let (code, out, _) = run(&["parse", "--provider", "postmark"], b"[not json");
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (1, Some("invalid_payload"))
    );
}

#[test]
fn postmark_checks_basic_auth() {
    use base64::Engine as _;
    let body = common::Sample::load("postmark-bounce.json").body;
    let good = format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode("pm:pass")
    );
    let (code, out, _) = run(
        &[
            "verify",
            "--scheme",
            "postmark",
            "--basic-auth",
            "pm:old",
            "--basic-auth",
            "pm:pass",
            "--header",
            &good,
        ],
        body.as_bytes(),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["key_index"], 1);
    assert_eq!(out["events"][0]["event_type"], "bounced");
    let (code, out, _) = run(
        &[
            "verify",
            "--scheme",
            "postmark",
            "--basic-auth",
            "pm:other",
            "--header",
            &good,
        ],
        body.as_bytes(),
    );
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (1, Some("unauthorized"))
    );
    assert_eq!(run(&["verify", "--scheme", "postmark"], b"").0, 2);
}

#[test]
fn ses_subscription_confirmation_is_printed_not_confirmed() {
    let key = include_bytes!("data/sns-test-key.pk8");
    let cert =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sns-test-cert.pem");
    let envelope = serde_json::json!({
        "Type": "SubscriptionConfirmation",
        "MessageId": "m",
        "Token": "tok",
        "TopicArn": "arn:aws:sns:eu-west-1:1:t",
        "Message": "confirm",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok",
        "Timestamp": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format"),
        "SignatureVersion": "2",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem",
    });
    let url = email_webhooks::provider::sns::SigningCertUrl::parse(
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem",
    )
    .expect("url");
    let signer = email_webhooks::provider::sns::SnsSigner::from_pkcs8(key, url).expect("key");
    let envelope: Value =
        serde_json::from_slice(&signer.sign(envelope).expect("sign")).expect("json");
    let cert = cert.display().to_string();
    let (code, out, err) = run(
        &[
            "verify",
            "--scheme",
            "ses",
            "--key",
            &cert,
            "--topic",
            "arn:aws:sns:eu-west-1:1:t",
        ],
        envelope.to_string().as_bytes(),
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(out["valid"], true);
    assert_eq!(
        out["subscription_confirmation"]["topic_arn"],
        "arn:aws:sns:eu-west-1:1:t"
    );
    assert!(
        out["subscription_confirmation"]["subscribe_url"]
            .as_str()
            .expect("url")
            .contains("ConfirmSubscription")
    );
    // The same confirmation on the inbound URL (an SES receipt rule's
    // topic): printed with no message.
    let (code, out, err) = run(
        &[
            "verify",
            "--scheme",
            "ses",
            "--inbound",
            "--key",
            &cert,
            "--topic",
            "arn:aws:sns:eu-west-1:1:t",
        ],
        envelope.to_string().as_bytes(),
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(out["messages"], serde_json::json!([]));
    assert_eq!(
        out["subscription_confirmation"]["topic_arn"],
        "arn:aws:sns:eu-west-1:1:t"
    );
}

#[test]
fn a_valid_signature_over_a_body_that_is_no_event_reports_both() {
    // The Resend vector signs `{"test": ...}`, which is no Resend event.
    let v = common::Vector::load_provider("resend-1.json");
    let args = provider_args("resend-1.json");
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = run(&a, v.body.as_bytes());
    assert_eq!(code, 0);
    assert_eq!(out["valid"], true);
    // `events` is always a list, for scripts (`jq '.events[]'`).
    assert_eq!(out["events"], serde_json::json!([]));
    assert_eq!(out["parse_error"]["code"], "invalid_payload");
}

// --- The simulator ---

/// A one-shot receiver on 127.0.0.1 that verifies with email-webhooks's provider
/// verifiers and answers 200 with the events' kinds, or 401.
/// What the test receiver saw: "path [kinds]" and the idempotency keys of
/// each verified request.
type Seen = (Vec<String>, Vec<String>);

/// Answers `connections` requests.
fn receiver(
    sendgrid_key: String,
    ses_certificate: String,
    connections: usize,
) -> (String, std::thread::JoinHandle<Seen>) {
    use email_webhooks::provider::ses::{SesOutcome, SesVerifier};
    use email_webhooks::provider::sns::{SnsVerifier, StaticCertificates};
    use email_webhooks::provider::{
        mailgun::MailgunVerifier, postmark::PostmarkVerifier, resend::ResendVerifier, sendgrid,
    };
    use std::future::Future as _;
    use std::io::{BufRead as _, BufReader, Read as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut keys = Vec::new();
        for stream in listener.incoming().take(connections) {
            let mut stream = stream.expect("stream");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            reader.read_line(&mut line).expect("request line");
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let mut headers: Vec<(String, String)> = Vec::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).expect("header");
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').expect("header");
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().expect("len"));
            let mut body = vec![0; len];
            reader.read_exact(&mut body).expect("body");
            let now = time::OffsetDateTime::now_utc();
            let events = match path.as_str() {
                "/sendgrid" => sendgrid::SendgridVerifier::new(
                    sendgrid::SendgridPublicKey::parse(&sendgrid_key).expect("key"),
                )
                .verify_and_parse_at(&headers, &body, now),
                "/mailgun" => {
                    MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").expect("key"))
                        .verify_and_parse_at(&headers, &body, now)
                }
                "/postmark" => PostmarkVerifier::new(
                    email_webhooks::BasicAuth::parse("pm:pass").expect("auth"),
                )
                .verify_and_parse(&headers, &body),
                "/ses" => {
                    // The URL `send` names, served the `keygen` certificate.
                    let certificates = StaticCertificates::new().with(
                        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-email-webhooks-test.pem",
                        ses_certificate.as_bytes(),
                    );
                    let verifier = SesVerifier::new(SnsVerifier::new(
                        certificates,
                        ["arn:aws:sns:us-east-1:123456789012:email-webhooks-test"],
                    ));
                    let future = std::pin::pin!(verifier.verify_and_parse_at(&headers, &body, now));
                    // The static source answers at once: one poll finishes it.
                    match future.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
                    {
                        std::task::Poll::Ready(Ok(SesOutcome::Events(events))) => Ok(events),
                        std::task::Poll::Ready(Err(e)) => Err(e),
                        other => panic!("ses: {other:?}"),
                    }
                }
                _ => ResendVerifier::new(
                    email_webhooks::Secret::from_standard_webhooks(
                        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                    )
                    .expect("secret"),
                )
                .verify_and_parse_at(&headers, &body, now),
            };
            let status = match events {
                Ok(events) => {
                    keys.extend(
                        events
                            .iter()
                            .map(email_webhooks::EmailEvent::idempotency_key),
                    );
                    seen.push(format!(
                        "{path} {:?}",
                        events.iter().map(|e| e.kind).collect::<Vec<_>>()
                    ));
                    "200 OK"
                }
                Err(_) => "401 Unauthorized",
            };
            let _ = std::io::Write::write_all(
                &mut stream,
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes(),
            );
        }
        (seen, keys)
    });
    (addr, handle)
}

#[test]
fn send_posts_signed_samples_that_verify() {
    let (code, keys, _) = run(&["keygen", "--provider", "sendgrid"], b"");
    assert_eq!(code, 0);
    let (code, ses_keys, _) = run(&["keygen", "--provider", "ses"], b"");
    assert_eq!(code, 0);
    let (addr, server) = receiver(
        keys["public_key"].as_str().expect("public key").to_owned(),
        ses_keys["certificate_pem"]
            .as_str()
            .expect("certificate")
            .to_owned(),
        6,
    );
    let url = |path: &str| format!("http://{addr}/{path}");
    let private = keys["private_key_pkcs8"]
        .as_str()
        .expect("private key")
        .to_owned();
    let ses_private = ses_keys["private_key_pkcs8"]
        .as_str()
        .expect("ses private key")
        .to_owned();
    let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    // (provider, event, key flag, key, route, expected exit code)
    let cases = [
        (
            "sendgrid",
            "bounced",
            "--key",
            private.as_str(),
            "sendgrid",
            0,
        ),
        ("mailgun", "opened", "--secret", "mg-key", "mailgun", 0),
        ("ses", "bounced", "--key", ses_private.as_str(), "ses", 0),
        (
            "postmark",
            "clicked",
            "--basic-auth",
            "pm:pass",
            "postmark",
            0,
        ),
        ("resend", "complained", "--secret", whsec, "resend", 0),
        // A wrong secret: the endpoint refuses, and `send` says so with exit 1.
        (
            "resend",
            "delivered",
            "--secret",
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "resend",
            1,
        ),
    ];
    for (provider, event, flag, key, route, expected) in cases {
        let to = url(route);
        let args = [
            "send",
            "--provider",
            provider,
            "--event",
            event,
            flag,
            key,
            "--recipient",
            "someone@example.org",
            "--to",
            &to,
        ];
        let (code, out, err) = run(&args, b"");
        assert_eq!(code, expected, "{provider} {event}: {out} {err}");
        assert_eq!(out["status"], if expected == 0 { 200 } else { 401 });
    }
    let (seen, _) = server.join().expect("server");
    assert_eq!(
        seen,
        vec![
            "/sendgrid [Bounced]",
            "/mailgun [Opened]",
            "/ses [Bounced]",
            "/postmark [Clicked]",
            "/resend [Complained]"
        ]
    );
}

/// (provider, key flag, key, extra flags, expected statuses)
type SendCase<'a> = (&'a str, &'a str, &'a str, &'a [&'a str], &'a [u64]);

#[test]
fn send_repeats_redeliver_the_same_event_and_tampered_requests_are_refused() {
    let (_, keys, _) = run(&["keygen", "--provider", "sendgrid"], b"");
    let (_, ses_keys, _) = run(&["keygen", "--provider", "ses"], b"");
    let key = |v: &Value, k: &str| v[k].as_str().expect("key").to_owned();
    let (addr, server) = receiver(
        key(&keys, "public_key"),
        key(&ses_keys, "certificate_pem"),
        8,
    );
    let url = |path: &str| format!("http://{addr}/{path}");
    let (sendgrid, ses) = (
        key(&keys, "private_key_pkcs8"),
        key(&ses_keys, "private_key_pkcs8"),
    );
    let cases: [SendCase<'_>; 6] = [
        (
            "mailgun",
            "--secret",
            "mg-key",
            &["--repeat", "2"],
            &[200, 200],
        ),
        ("ses", "--key", &ses, &["--repeat", "2"], &[200, 200]),
        ("sendgrid", "--key", &sendgrid, &["--tamper"], &[401]),
        ("mailgun", "--secret", "mg-key", &["--tamper"], &[401]),
        ("ses", "--key", &ses, &["--tamper"], &[401]),
        ("postmark", "--basic-auth", "pm:pass", &["--tamper"], &[401]),
    ];
    for (provider, flag, secret, extra, statuses) in cases {
        let to = url(provider);
        let mut args = vec!["send", "--provider", provider, flag, secret, "--to", &to];
        args.extend_from_slice(extra);
        let (code, out, err) = run(&args, b"");
        assert_eq!(code, 0, "{provider} {extra:?}: {out} {err}");
        assert_eq!(out["statuses"], serde_json::json!(statuses), "{provider}");
    }
    // A repeated send is the same event each time (the same idempotency key),
    // freshly signed: Mailgun's two requests carry different tokens.
    let (seen, keys) = server.join().expect("server");
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(keys.len(), 4);
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[2], keys[3]);
    assert_ne!(keys[0], keys[2]);
}

#[test]
fn keygen_ses_writes_the_certificate_it_prints() {
    let dir = std::env::temp_dir().join(format!("email-webhooks-keygen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("sns-cert.pem");
    let file_arg = file.display().to_string();
    let (code, out, err) = run(
        &["keygen", "--provider", "ses", "--cert-out", &file_arg],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let pem = std::fs::read_to_string(&file).expect("certificate file");
    assert_eq!(out["certificate_pem"].as_str(), Some(pem.as_str()));
    assert_eq!(out["certificate_file"].as_str(), Some(file_arg.as_str()));
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    email_webhooks::provider::sns::SnsCertificate::parse(pem.as_bytes())
        .expect("an RSA certificate");
    let _ = std::fs::remove_dir_all(&dir);

    // Two keygens make two different keys.
    let (_, again, _) = run(&["keygen", "--provider", "ses"], b"");
    assert_ne!(again["private_key_pkcs8"], out["private_key_pkcs8"]);

    let (code, _, err) = run(
        &["keygen", "--provider", "sendgrid", "--cert-out", &file_arg],
        b"",
    );
    assert_eq!(code, 2);
    assert!(err.contains("--cert-out is for ses"), "{err}");
    let (code, _, err) = run(&["keygen", "--provider", "mailgun"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("sendgrid and ses"), "{err}");
}

#[test]
fn send_refuses_https_and_unknown_events_with_usage_errors() {
    let (code, _, err) = run(
        &[
            "send",
            "--provider",
            "resend",
            "--secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "--to",
            "https://example.com/",
        ],
        b"",
    );
    assert_eq!(code, 2);
    assert!(err.contains("http://"), "{err}");
    let (code, _, err) = run(
        &[
            "send",
            "--provider",
            "resend",
            "--event",
            "exploded",
            "--to",
            "http://127.0.0.1:9/",
        ],
        b"",
    );
    assert_eq!(code, 2);
    assert!(err.contains("delivered"), "{err}");
    let (code, _, err) = run(
        &[
            "send",
            "--provider",
            "sendgrid",
            "--to",
            "http://127.0.0.1:9/",
        ],
        b"",
    );
    assert_eq!(code, 2);
    assert!(err.contains("--key"), "{err}");
}

#[test]
fn ses_and_sns_verify_without_a_topic_is_a_usage_error_that_says_why() {
    let cert =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sns-test-cert.pem");
    let cert = cert.display().to_string();
    for scheme in ["ses", "sns"] {
        let (code, _, err) = run(&["verify", "--scheme", scheme, "--key", &cert], b"{}");
        assert_eq!(code, 2, "{scheme}");
        assert!(err.contains("--topic"), "{err}");
        assert!(err.contains("same certificates"), "{err}");
    }
}

#[test]
fn ses_verify_refuses_a_topic_not_listed() {
    let v = common::Vector::load_provider("amazon-sns-2.json");
    let mut args = provider_args("amazon-sns-2.json");
    let i = args.iter().position(|a| a == "--topic").expect("topic");
    args[i + 1] = "arn:aws:sns:us-east-2:000000000000:other".into();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, _) = run(&a, v.body.as_bytes());
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (1, Some("unauthorized"))
    );
}

#[test]
fn mailgun_form_bodies_are_recognized_by_content_type_whatever_its_case() {
    // The CLI once decided the form path with a case-sensitive prefix while
    // the library used `form::is_form`: a form that verified then failed to
    // parse. One decision now serves both.
    let key = "mg-key";
    let ts = time::OffsetDateTime::now_utc().unix_timestamp();
    let verifier = email_webhooks::provider::mailgun::MailgunVerifier::new(
        email_webhooks::Secret::from_bytes(key).expect("key"),
    );
    let signed = verifier
        .sign(ts, "token-abcdefgh", &serde_json::json!({}))
        .expect("sign");
    let body = format!(
        "event=delivered&recipient=a%40b.c&timestamp={ts}&token=token-abcdefgh&signature={}",
        signed["signature"]["signature"]
            .as_str()
            .expect("signature")
    );
    for content_type in [
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=utf-8",
        " APPLICATION/x-www-form-urlencoded",
    ] {
        let header = format!("Content-Type: {content_type}");
        let (code, out, err) = run(
            &["parse", "--provider", "mailgun", "--header", &header],
            body.as_bytes(),
        );
        assert_eq!(code, 0, "{content_type}: {out} {err}");
        assert_eq!(
            out["events"][0]["event_type"], "delivered",
            "{content_type}"
        );
        let (code, out, err) = run(
            &[
                "verify", "--scheme", "mailgun", "--secret", key, "--header", &header,
            ],
            body.as_bytes(),
        );
        assert_eq!(code, 0, "{content_type}: {out} {err}");
        assert_eq!(out["events"][0]["recipient"], "a@b.c", "{content_type}");
    }
}

// --- Mailjet and GetResponse, through the registry ---

fn basic(pair: &str) -> String {
    use base64::Engine as _;
    format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[test]
fn mailjet_verifies_basic_auth_with_rotation_and_prints_grouped_events() {
    let body = common::Sample::load("mailjet-batch-sent.json").body;
    let auth = basic("mj:new-pass");
    let args = |pair: &'static str| {
        vec![
            "verify",
            "--scheme",
            "mailjet",
            "--basic-auth",
            "mj:old-pass",
            "--basic-auth",
            pair,
            "--header",
        ]
    };
    let mut a = args("mj:new-pass");
    a.push(&auth);
    let (code, out, _) = run(&a, body.as_bytes());
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["valid"], true);
    assert_eq!(out["scheme"], "mailjet");
    assert_eq!(out["key_index"], 1);
    assert_eq!(out["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(out["events"][0]["event_type"], "delivered");
    // Above 2^53, every digit kept.
    assert_eq!(out["events"][1]["message_id"], "19421777835146491");

    let wrong = basic("mj:wrong");
    let mut a = args("mj:other-pass");
    a.push(&wrong);
    let (code, out, _) = run(&a, body.as_bytes());
    assert_eq!(
        (code, out["error"]["code"].as_str()),
        (1, Some("unauthorized"))
    );
    let (code, _, err) = run(&["verify", "--scheme", "mailjet"], body.as_bytes());
    assert_eq!(code, 2);
    assert!(err.contains("--basic-auth"), "{err}");
}

#[test]
fn getresponse_verifies_the_url_secret_and_keys_events_by_the_webhook_id() {
    let body = common::Sample::load("getresponse-opened.json").body;
    let verify = |url: &str, secret: &str| {
        run(
            &[
                "verify",
                "--scheme",
                "getresponse",
                "--secret",
                "old-secret",
                "--secret",
                secret,
                "--url",
                url,
                "--header",
                "X-Webhook-ID: 9b287712-80b9-4aba-ad5e-df31929dad75",
            ],
            body.as_bytes(),
        )
    };
    let (code, out, _) = verify(
        "https://hooks.example.com/webhooks/getresponse?secret=s%3Dcret",
        "s=cret",
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["key_index"], 1);
    assert_eq!(out["events"][0]["event_type"], "opened");
    assert_eq!(
        out["events"][0]["idempotency_key"],
        "getresponse:9b287712-80b9-4aba-ad5e-df31929dad75"
    );
    for url in [
        "https://hooks.example.com/webhooks/getresponse?secret=wrong",
        "https://hooks.example.com/webhooks/getresponse",
        "https://hooks.example.com/webhooks/getresponse?secret=s%3Dcret&secret=s%3Dcret",
    ] {
        let (code, out, _) = verify(url, "s=cret");
        assert_eq!(
            (code, out["error"]["code"].as_str()),
            (1, Some("unauthorized")),
            "{url}"
        );
    }
    // Another parameter name.
    let (code, out, _) = run(
        &[
            "verify",
            "--scheme",
            "getresponse",
            "--secret",
            "k",
            "--url-param",
            "token",
            "--url",
            "https://h/hook?token=k",
            "--header",
            "X-Webhook-ID: id-1",
        ],
        body.as_bytes(),
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
fn parse_reads_mailjet_and_getresponse() {
    let body = common::Sample::load("mailjet-unsub.json").body;
    let (code, out, _) = run(&["parse", "--provider", "mailjet"], body.as_bytes());
    assert_eq!(code, 0);
    assert_eq!(out["events"][0]["event_type"], "unsubscribed");
    let body = common::Sample::load("getresponse-clicked.json").body;
    let (code, out, _) = run(
        &[
            "parse",
            "--provider",
            "getresponse",
            "--header",
            "X-Webhook-ID: w-1",
        ],
        body.as_bytes(),
    );
    assert_eq!(code, 0);
    assert_eq!(out["events"][0]["click_url"], "https://example.com/pricing");
    assert_eq!(out["events"][0]["idempotency_key"], "getresponse:w-1");
}

#[test]
fn send_print_shows_the_request_instead_of_posting_it() {
    let (code, out, _) = run(
        &[
            "send",
            "--provider",
            "getresponse",
            "--event",
            "opened",
            "--secret",
            "s3cret",
            "--to",
            "http://127.0.0.1:9/webhooks/getresponse",
            "--print",
        ],
        b"",
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out["url"],
        "http://127.0.0.1:9/webhooks/getresponse?secret=s3cret"
    );
    assert_eq!(out["headers"]["X-Webhook-Type"], "contact_opened_message");
    assert!(
        out["body"]
            .as_str()
            .unwrap()
            .contains("contact_opened_message")
    );

    let (code, out, _) = run(
        &[
            "send",
            "--provider",
            "mailjet",
            "--event",
            "bounced",
            "--basic-auth",
            "mj:pw",
            "--to",
            "http://127.0.0.1:9/webhooks/mailjet",
            "--print",
        ],
        b"",
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out["headers"]["Authorization"]
            .as_str()
            .unwrap()
            .starts_with("Basic ")
    );
    // GetResponse sends no "delivered": the usage error lists what it sends.
    let (code, _, err) = run(
        &[
            "send",
            "--provider",
            "getresponse",
            "--event",
            "delivered",
            "--secret",
            "s",
            "--to",
            "http://127.0.0.1:9/",
        ],
        b"",
    );
    assert_eq!(code, 2);
    assert!(err.contains("no delivered event"), "{err}");
}

#[test]
fn sign_help_lists_the_schemes_and_every_provider() {
    let output = Command::new(env!("CARGO_BIN_EXE_email-webhooks"))
        .args(["sign", "--help"])
        .output()
        .expect("runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("stripe") && help.contains("resend"), "{help}");
    for provider in email_webhooks::Provider::ALL {
        assert!(
            help.contains(provider.as_str()),
            "sign --help does not list {provider}:\n{help}"
        );
    }
}

/// `send --body` delivers a saved (here edited) delivery, signed again each
/// time, to several receivers in turn: the replicas see the same event.
/// An endpoint that cannot be reached is a failed send (exit 1), not a
/// usage error.
#[test]
fn send_redelivers_a_saved_body_to_several_receivers() {
    let (_, keys, _) = run(&["keygen", "--provider", "sendgrid"], b"");
    let (_, ses_keys, _) = run(&["keygen", "--provider", "ses"], b"");
    let key = |v: &Value, k: &str| v[k].as_str().expect("key").to_owned();
    let (first, one) = receiver(
        key(&keys, "public_key"),
        key(&ses_keys, "certificate_pem"),
        2,
    );
    let (second, two) = receiver(
        key(&keys, "public_key"),
        key(&ses_keys, "certificate_pem"),
        1,
    );
    let (_, sample, _) = run(
        &[
            "send",
            "--provider",
            "mailgun",
            "--secret",
            "mg-key",
            "--event",
            "bounced",
            "--to",
            "http://127.0.0.1:9/mailgun",
            "--print",
        ],
        b"",
    );
    let saved: Value = serde_json::from_str(sample["body"].as_str().expect("body")).expect("json");
    let mut edited = saved["event-data"].clone();
    edited["recipient"] = "saved@example.com".into();
    let dir = std::env::temp_dir().join(format!("email-webhooks-send-body-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("saved.json");
    std::fs::write(
        &file,
        serde_json::json!({"signature": saved["signature"], "event-data": edited}).to_string(),
    )
    .expect("write");
    let (a, b) = (
        format!("http://{first}/mailgun"),
        format!("http://{second}/mailgun"),
    );
    let file = file.display().to_string();
    let (code, out, err) = run(
        &[
            "send",
            "--provider",
            "mailgun",
            "--secret",
            "mg-key",
            "--body",
            &file,
            "--to",
            &a,
            "--to",
            &b,
            "--repeat",
            "3",
        ],
        b"",
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(out["statuses"], serde_json::json!([200, 200, 200]));
    assert_eq!(out["to"], serde_json::json!([a, b, a]));
    let (_, first_keys) = one.join().expect("first");
    let (_, second_keys) = two.join().expect("second");
    assert_eq!(first_keys.len(), 2);
    assert_eq!(second_keys, vec![first_keys[0].clone()]);
    assert_eq!(first_keys[0], first_keys[1]);
    assert_eq!(
        first_keys[0],
        format!("mailgun:{}", saved["event-data"]["id"].as_str().unwrap())
    );

    // Nothing listens on port 9: exit 1 with an error object.
    let (code, out, err) = run(
        &[
            "send",
            "--provider",
            "mailgun",
            "--secret",
            "mg-key",
            "--to",
            "http://127.0.0.1:9/mailgun",
        ],
        b"",
    );
    assert_eq!(code, 1, "{out} {err}");
    assert_eq!(out["sent"], false);
    assert_eq!(out["error"]["code"], "unreachable");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "redis")]
/// Fills a queue with `poison` buried after 3 attempts and `fine` handled.
async fn with_a_dead_letter<Q: email_webhooks::queue::Queue>(queue: &Q) {
    use email_webhooks::queue::NewJob;
    use email_webhooks::worker::{Backoff, Worker};
    let raw = |s: &str| serde_json::value::RawValue::from_string(s.to_owned()).unwrap();
    let mut jobs = Vec::new();
    for id in ["poison", "fine"] {
        let mut event = email_webhooks::EmailEvent::new(
            email_webhooks::Provider::Postmark,
            email_webhooks::EventKind::Bounced,
            raw("{}"),
        );
        event.event_id = Some(id.to_owned());
        event.recipient = Some(format!("{id}@example.com"));
        jobs.push(NewJob::for_event(&event).unwrap());
    }
    queue.enqueue(&jobs).await.unwrap();
    Worker::new(queue)
        .with_max_attempts(3)
        .with_backoff(Backoff {
            base: std::time::Duration::from_millis(1),
            max: std::time::Duration::from_millis(5),
        })
        .with_poll_interval(std::time::Duration::from_millis(5))
        .run_until_idle(|event: email_webhooks::EmailEvent| async move {
            if event.event_id.as_deref() == Some("poison") {
                Err("the CRM refused it")
            } else {
                Ok(())
            }
        })
        .await;
}

/// A mistyped queue URL is a usage error that never echoes the URL: it
/// may carry a database password.
#[test]
fn dead_letters_never_print_the_queue_url() {
    for url in [
        "postgre://user:s3cret@db.example/queue",
        "POSTGRES://user:s3cret@db.example/queue",
        "user:s3cret@db.example",
        "s3cret",
    ] {
        let (code, out, err) = run(&["dead-letters", "list", "--queue", url], b"");
        assert_eq!(code, 2, "{url}: {out} {err}");
        assert!(
            !err.contains("s3cret") && !out.to_string().contains("s3cret"),
            "{url}: {err}"
        );
        assert!(err.contains("--queue is sqlite:PATH"), "{err}");
    }
}

#[cfg(feature = "redis")]
fn dead_letters_round_trip(queue: &[&str]) {
    let (code, out, _) = run(&[&["dead-letters", "list"], queue].concat(), b"");
    assert_eq!(code, 0, "{out}");
    let letters = out["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{out}");
    assert_eq!(letters[0]["key"], "postmark:poison");
    assert_eq!(letters[0]["attempts"], 3);
    assert_eq!(letters[0]["error"], "the CRM refused it");
    assert_eq!(letters[0]["event"]["recipient"], "poison@example.com");
    assert_eq!(letters[0]["event"]["event_type"], "bounced");

    let (code, _, err) = run(&[&["dead-letters", "requeue"], queue].concat(), b"");
    assert_eq!(code, 2);
    assert!(err.contains("--key KEY or --all"), "{err}");
    let (code, out, _) = run(
        &[
            &["dead-letters", "requeue", "--key", "postmark:nope"],
            queue,
        ]
        .concat(),
        b"",
    );
    assert_eq!((code, &out["requeued"]), (0, &Value::from(0)));
    let (code, out, _) = run(
        &[
            &["dead-letters", "requeue", "--key", "postmark:poison"],
            queue,
        ]
        .concat(),
        b"",
    );
    assert_eq!((code, &out["requeued"]), (0, &Value::from(1)));
    let (code, out, _) = run(&[&["dead-letters", "list"], queue].concat(), b"");
    assert_eq!(code, 0);
    assert_eq!(out["dead_letters"], Value::Array(Vec::new()));
}

/// The installed CLI (feature `cli` alone) reads every queue engine, with
/// the connection strings the library takes: SQLite, Redis, and
/// PostgreSQL as libpq settings and as a URL.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_are_listed_and_requeued_on_sqlite_redis_and_postgres() {
    let dir = std::env::temp_dir().join(format!(
        "email-webhooks-cli-dl-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("queue.db");
    let queue = email_webhooks::queue::SqliteQueue::open(&path).unwrap();
    with_a_dead_letter(&queue).await;
    let url = format!("sqlite:{}", path.display());
    tokio::task::spawn_blocking(move || dead_letters_round_trip(&["--queue", &url]))
        .await
        .unwrap();

    let redis_url = std::env::var("EMAIL_WEBHOOKS_TEST_REDIS_URL")
        .expect("EMAIL_WEBHOOKS_TEST_REDIS_URL is not set: run the tests through scripts/test.sh");
    let prefix = format!(
        "cli-dl-{}:",
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let queue = email_webhooks::queue::RedisQueue::connect(&client)
        .await
        .unwrap()
        .with_prefix(prefix.clone());
    with_a_dead_letter(&queue).await;
    tokio::task::spawn_blocking(move || {
        dead_letters_round_trip(&["--queue", &redis_url, "--prefix", &prefix]);
    })
    .await
    .unwrap();

    // PostgreSQL, in a database of its own: libpq settings, then a URL.
    let settings = std::env::var("EMAIL_WEBHOOKS_TEST_POSTGRES_URL").expect(
        "EMAIL_WEBHOOKS_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh",
    );
    let (client, connection) = tokio_postgres::connect(&settings, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let database = format!(
        "cli_dl_{}",
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    client
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .await
        .unwrap();
    let libpq = format!("{settings} dbname={database}");
    let queue = email_webhooks::queue::PostgresQueue::connect(&libpq).unwrap();
    queue.create_table().await.unwrap();
    with_a_dead_letter(&queue).await;
    let setting = |key: &str| {
        settings
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .unwrap()
            .to_owned()
    };
    let url = format!(
        "postgres://{}@{}:{}/{database}",
        setting("user"),
        setting("host"),
        setting("port")
    );
    tokio::task::spawn_blocking(move || {
        dead_letters_round_trip(&["--queue", &libpq]);
        // The round trip requeued it: bury it again through the URL form.
        let (code, out, _) = run(&["dead-letters", "list", "--queue", &url], b"");
        assert_eq!(code, 0, "{out}");
        assert!(out["dead_letters"].is_array(), "{out}");
    })
    .await
    .unwrap();

    // A queue that is not there: a usage error; an unknown scheme too.
    for bad in ["sqlite:/nonexistent/queue.db", "mysql://x"] {
        let (code, _, err) = run(&["dead-letters", "list", "--queue", bad], b"");
        assert_eq!(code, 2, "{bad}: {err}");
    }
}

/// Every provider added to the registry since the CLI's first ones, end to
/// end through the command line: `send --print` makes a delivery as the
/// provider would, `verify --scheme` with the receiver's flags accepts it
/// (with its events), `parse --provider` reads it, and the same delivery
/// tampered with is refused with exit 1.
#[test]
// One table of providers and one loop over it.
#[allow(clippy::too_many_lines)]
fn every_newer_provider_sends_verifies_and_parses_through_the_cli() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let data = |name: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    };
    let postal_private = b64(&std::fs::read(data("postal-test-key-2048.pk8")).expect("key"));
    let postal_public = data("postal-test-key-2048.pub.pem").display().to_string();
    let mailpace_public = b64(email_webhooks::Ed25519SigningKey::from_seed([4; 32])
        .expect("seed")
        .public_key()
        .as_bytes());
    let mailpace_seed = b64(&[4; 32]);
    let sweego = b64(b"cli-sweego-secret");
    let to = "http://127.0.0.1:9/webhooks/provider";
    // (provider, sender's flags, receiver's flags)
    let cases: [(&str, Vec<&str>, Vec<&str>); 11] = [
        (
            "mandrill",
            vec!["--secret", "k"],
            vec!["--secret", "k", "--url", to],
        ),
        (
            "sparkpost",
            vec!["--basic-auth", "u:p"],
            vec!["--basic-auth", "u:p"],
        ),
        ("mailersend", vec!["--secret", "s"], vec!["--secret", "s"]),
        ("mailtrap", vec!["--secret", "s"], vec!["--secret", "s"]),
        (
            "brevo",
            vec!["--secret", "token"],
            vec!["--secret", "token"],
        ),
        (
            "postal",
            vec!["--key", &postal_private],
            vec!["--key", &postal_public],
        ),
        (
            "unisender-go",
            vec!["--secret", "api-key"],
            vec!["--secret", "api-key"],
        ),
        (
            "smtp2go",
            vec!["--basic-auth", "u:p"],
            vec!["--basic-auth", "u:p"],
        ),
        (
            "mailpace",
            vec!["--key", &mailpace_seed],
            vec!["--key", &mailpace_public],
        ),
        (
            "sweego",
            vec!["--secret", &sweego],
            vec!["--secret", &sweego],
        ),
        (
            "mailkite",
            vec!["--secret", "whsec_cli"],
            vec!["--secret", "whsec_cli"],
        ),
    ];
    for (provider, sender, receiver) in cases {
        // MailKite posts only the mail it receives.
        let event = if provider == "mailkite" {
            "inbound"
        } else {
            "bounced"
        };
        let deliver = |tamper: bool| {
            let mut args = vec![
                "send",
                "--provider",
                provider,
                "--event",
                event,
                "--to",
                to,
                "--print",
            ];
            args.extend(sender.iter().copied());
            if tamper {
                args.push("--tamper");
            }
            let (code, out, err) = run(&args, b"");
            assert_eq!(code, 0, "{provider}: {err}");
            out
        };
        let verify = |delivery: &Value| {
            let headers: Vec<String> = delivery["headers"]
                .as_object()
                .expect("headers")
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_str().expect("value")))
                .collect();
            let mut args = vec!["verify", "--scheme", provider];
            args.extend(receiver.iter().copied());
            for header in &headers {
                args.extend(["--header", header.as_str()]);
            }
            let body = delivery["body"].as_str().expect("body").as_bytes().to_vec();
            run(&args, &body)
        };
        let genuine = deliver(false);
        let (code, out, err) = verify(&genuine);
        assert_eq!(
            (code, &out["valid"]),
            (0, &Value::Bool(true)),
            "{provider}: {out} {err}"
        );
        let events = out["events"].as_array().expect("events");
        assert_eq!(events.len(), 1, "{provider}: {out}");
        assert_eq!(events[0]["provider"], provider, "{provider}");
        assert!(
            events[0]["idempotency_key"]
                .as_str()
                .is_some_and(|k| k.starts_with(provider))
        );

        let body = genuine["body"].as_str().expect("body").as_bytes().to_vec();
        let headers: Vec<String> = genuine["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().expect("value")))
            .collect();
        let mut args = vec!["parse", "--provider", provider];
        for header in &headers {
            args.extend(["--header", header.as_str()]);
        }
        let (code, parsed, err) = run(&args, &body);
        assert_eq!(code, 0, "{provider}: {err}");
        assert_eq!(
            parsed["events"][0]["idempotency_key"], events[0]["idempotency_key"],
            "{provider}"
        );

        let (code, out, _) = verify(&deliver(true));
        assert_eq!(
            (code, &out["valid"]),
            (1, &Value::Bool(false)),
            "{provider}: {out}"
        );
    }
}

/// A refused key or credential says why, with its cause, not only
/// `invalid secret`; and never echoes what was given.
#[test]
fn refused_keys_and_credentials_say_why() {
    let private = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg";
    let (code, out, _) = run(
        &[
            "verify", "--scheme", "sendgrid", "--key", private, "--header", "a: b",
        ],
        b"",
    );
    assert_eq!(code, 1);
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("P-256 public key"), "{message}");
    assert!(!message.contains(private), "{message}");
    let (code, out, _) = run(
        &[
            "verify",
            "--scheme",
            "postmark",
            "--basic-auth",
            "nocolon-secret",
        ],
        b"",
    );
    assert_eq!(code, 1);
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("USER:PASSWORD"), "{message}");
    assert!(!message.contains("nocolon-secret"), "{message}");
}

/// Every provider's flags: (provider, the sender's, the receiver's, the
/// URL the receiver was called at).
#[allow(clippy::too_many_lines)] // A table: one row per provider.
fn every_provider_flags() -> Vec<(&'static str, Vec<String>, Vec<String>, String)> {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let data = |name: &str| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
            .display()
            .to_string()
    };
    let (code, sendgrid, _) = run(&["keygen", "--provider", "sendgrid"], b"");
    assert_eq!(code, 0);
    let text = |v: &Value| v.as_str().expect("text").to_owned();
    let postal_private = b64(&std::fs::read(data("postal-test-key-2048.pk8")).expect("key"));
    let ses_private = b64(include_bytes!("data/sns-test-key.pk8"));
    let mailpace_public = b64(email_webhooks::Ed25519SigningKey::from_seed([4; 32])
        .expect("seed")
        .public_key()
        .as_bytes());
    let sweego = b64(b"cli-sweego-secret");
    let topic = "arn:aws:sns:us-east-1:123456789012:email-webhooks-test";
    let flags = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let url = |provider: &str| format!("http://127.0.0.1:9/webhooks/{provider}");
    vec![
        (
            "sendgrid",
            flags(&["--key", &text(&sendgrid["private_key_pkcs8"])]),
            flags(&["--key", &text(&sendgrid["public_key"])]),
            url("sendgrid"),
        ),
        (
            "mailgun",
            flags(&["--secret", "mg-key"]),
            flags(&["--secret", "mg-key"]),
            url("mailgun"),
        ),
        (
            "ses",
            flags(&["--key", &ses_private, "--topic", topic]),
            flags(&["--key", &data("sns-test-cert.pem"), "--topic", topic]),
            url("ses"),
        ),
        (
            "postmark",
            flags(&["--basic-auth", "pm:pw"]),
            flags(&["--basic-auth", "pm:pw"]),
            url("postmark"),
        ),
        (
            "resend",
            flags(&["--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]),
            flags(&["--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]),
            url("resend"),
        ),
        (
            "mailjet",
            flags(&["--basic-auth", "mj:pw"]),
            flags(&["--basic-auth", "mj:pw"]),
            url("mailjet"),
        ),
        (
            "getresponse",
            flags(&["--secret", "gr-secret"]),
            flags(&["--secret", "gr-secret"]),
            format!("{}?secret=gr-secret", url("getresponse")),
        ),
        (
            "mandrill",
            flags(&["--secret", "k"]),
            flags(&["--secret", "k", "--url", &url("mandrill")]),
            url("mandrill"),
        ),
        (
            "sparkpost",
            flags(&["--basic-auth", "u:p"]),
            flags(&["--basic-auth", "u:p"]),
            url("sparkpost"),
        ),
        (
            "mailersend",
            flags(&["--secret", "s"]),
            flags(&["--secret", "s"]),
            url("mailersend"),
        ),
        (
            "mailtrap",
            flags(&["--secret", "s"]),
            flags(&["--secret", "s"]),
            url("mailtrap"),
        ),
        (
            "brevo",
            flags(&["--secret", "token"]),
            flags(&["--secret", "token"]),
            url("brevo"),
        ),
        (
            "postal",
            flags(&["--key", &postal_private]),
            flags(&["--key", &data("postal-test-key-2048.pub.pem")]),
            url("postal"),
        ),
        (
            "unisender-go",
            flags(&["--secret", "api-key"]),
            flags(&["--secret", "api-key"]),
            url("unisender-go"),
        ),
        (
            "smtp2go",
            flags(&["--basic-auth", "u:p"]),
            flags(&["--basic-auth", "u:p"]),
            url("smtp2go"),
        ),
        (
            "mailpace",
            flags(&["--key", &b64(&[4; 32])]),
            flags(&["--key", &mailpace_public]),
            url("mailpace"),
        ),
        (
            "sweego",
            flags(&["--secret", &sweego]),
            flags(&["--secret", &sweego]),
            url("sweego"),
        ),
        (
            "mailkite",
            flags(&["--secret", "whsec_cli"]),
            flags(&["--secret", "whsec_cli"]),
            url("mailkite"),
        ),
    ]
}

/// `sign --scheme PROVIDER` signs a saved delivery, edited, as the provider
/// would (inside the body where the provider signs there): the receiver
/// verifies it and reads the edit. Every registered provider is covered.
#[test]
fn every_provider_signs_an_edited_saved_delivery_that_verifies() {
    let dir = std::env::temp_dir().join(format!("email-webhooks-sign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cases = every_provider_flags();
    let names: Vec<&str> = cases.iter().map(|(p, ..)| *p).collect();
    for provider in email_webhooks::Provider::ALL {
        assert!(
            names.contains(&provider.as_str()),
            "{provider} is not covered"
        );
    }
    for (provider, sender, receiver, url) in &cases {
        let event = if *provider == "mailkite" {
            "inbound"
        } else if *provider == "mailpace" {
            "delivered"
        } else {
            "bounced"
        };
        let mut args = vec![
            "send",
            "--provider",
            provider,
            "--event",
            event,
            "--to",
            url,
            "--print",
        ];
        args.extend(sender.iter().map(String::as_str));
        let (code, sample, err) = run(&args, b"");
        assert_eq!(code, 0, "{provider}: {err}");
        // The edit: another recipient (form-encoded in Mandrill's body).
        let edited = sample["body"]
            .as_str()
            .expect("body")
            .replace("recipient@example.com", "edited@example.com")
            .replace("recipient%40example.com", "edited%40example.com");
        assert_ne!(
            edited,
            sample["body"].as_str().unwrap(),
            "{provider}: nothing edited"
        );
        let file = dir.join(format!("{provider}.body"));
        std::fs::write(&file, &edited).expect("write");
        let file = file.display().to_string();
        let mut args = vec!["sign", "--scheme", provider, "--body", &file];
        args.extend(sender.iter().map(String::as_str));
        if *provider == "mandrill" {
            args.extend(["--url", url.as_str()]);
        }
        let (code, signed, err) = run(&args, b"");
        assert_eq!(code, 0, "{provider}: {err}");
        let body = signed["body"].as_str().unwrap_or(&edited).to_owned();
        let mut args = vec!["verify", "--scheme", provider];
        args.extend(receiver.iter().map(String::as_str));
        let called = match signed["query"].as_str() {
            Some(query) => format!("{}?{query}", url.split('?').next().unwrap_or_default()),
            None => url.clone(),
        };
        if signed["query"].is_string() || *provider == "getresponse" {
            args.extend(["--url", called.as_str()]);
        }
        let headers: Vec<String> = signed["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.as_str().expect("value")))
            .collect();
        for header in &headers {
            args.extend(["--header", header.as_str()]);
        }
        let (code, out, err) = run(&args, body.as_bytes());
        assert_eq!(
            (code, &out["valid"]),
            (0, &Value::Bool(true)),
            "{provider}: {out} {err}"
        );
        let text = out["events"].to_string();
        assert!(text.contains("edited@example.com"), "{provider}: {text}");
        assert!(
            !text.contains("recipient@example.com"),
            "{provider}: {text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// --- Captured requests as they come from a terminal ---

#[test]
fn header_values_are_trimmed_at_both_ends_as_a_server_reads_them() {
    // Standard Webhooks' timestamp is digits only: a trailing CR refused it.
    let v = common::Vector::load("standard-webhooks-01.json");
    let mut args = vector_args(&v);
    // As copied from `curl -D` (CRLF line ends) or with a trailing space.
    for (i, arg) in args.clone().iter().enumerate() {
        if i > 0 && args[i - 1] == "--header" {
            args[i] = format!("{arg} \r");
        }
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run(&a, v.body.as_bytes());
    assert_eq!(
        (code, &out["valid"]),
        (0, &Value::Bool(true)),
        "{out} {err}"
    );
}

#[test]
fn bodies_over_the_limit_are_never_signed_sent_or_parsed_as_a_prefix() {
    let dir = std::env::temp_dir().join(format!("email-webhooks-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let big = dir.join("big.json");
    let max = email_webhooks::Limits::default().max_body_bytes;
    std::fs::write(&big, vec![b' '; max + 10]).expect("write");
    let big = big.display().to_string();
    let (code, out, err) = run(
        &[
            "sign", "--scheme", "stripe", "--secret", "s", "--body", &big,
        ],
        b"",
    );
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("larger than"), "{err}");
    let (code, out, err) = run(
        &[
            "send",
            "--provider",
            "resend",
            "--secret",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "--body",
            &big,
            "--to",
            "http://127.0.0.1:9/webhooks/resend",
            "--print",
        ],
        b"",
    );
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("larger than"), "{err}");
    let (code, out, _) = run(&["parse", "--provider", "resend", "--body", &big], b"");
    assert_eq!(
        (code, &out["error"]["code"]),
        (1, &Value::from("body_too_large")),
        "{out}"
    );
    // At the limit exactly, it is read whole.
    std::fs::write(dir.join("big.json"), vec![b' '; max]).expect("write");
    let (code, out, _) = run(&["parse", "--provider", "resend", "--body", &big], b"");
    assert_eq!(
        (code, &out["error"]["code"]),
        (1, &Value::from("invalid_payload")),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ses_and_sns_try_every_certificate_given_and_keys_are_read_from_pipes() {
    use base64::Engine as _;
    let dir = std::env::temp_dir().join(format!("email-webhooks-rotate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let new_cert = dir.join("new.pem").display().to_string();
    let (code, keys, err) = run(
        &["keygen", "--provider", "ses", "--cert-out", &new_cert],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let new_key = base64::engine::general_purpose::STANDARD
        .decode(keys["private_key_pkcs8"].as_str().expect("key"))
        .expect("base64");
    let old_cert =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sns-test-cert.pem");
    let old_cert = old_cert.display().to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = dir.join("body.json");
    std::fs::write(&body, common::ses_notification(&new_key, now)).expect("write");
    let body = body.display().to_string();
    let topic = "arn:aws:sns:eu-west-1:1:t";
    for scheme in ["ses", "sns"] {
        // Signed with the new certificate, given second: found, and named.
        let (code, out, err) = run(
            &[
                "verify", "--scheme", scheme, "--key", &old_cert, "--key", &new_cert, "--topic",
                topic, "--body", &body,
            ],
            b"",
        );
        assert_eq!(
            (code, &out["valid"]),
            (0, &Value::Bool(true)),
            "{scheme}: {out} {err}"
        );
        assert_eq!(out["key_index"], 1, "{scheme}: {out}");
        assert_eq!(out["unix_timestamp"], now, "{scheme}: {out}");
        // Only the old one: refused.
        let (code, out, _) = run(
            &[
                "verify", "--scheme", scheme, "--key", &old_cert, "--topic", topic, "--body", &body,
            ],
            b"",
        );
        assert_eq!(
            (code, &out["error"]["code"]),
            (1, &Value::from("invalid_signature")),
            "{out}"
        );
        // The certificate through a pipe (`--key <(…)`, /dev/stdin).
        let pem = std::fs::read(&new_cert).expect("pem");
        let (code, out, err) = run(
            &[
                "verify",
                "--scheme",
                scheme,
                "--key",
                "/dev/stdin",
                "--topic",
                topic,
                "--body",
                &body,
            ],
            &pem,
        );
        assert_eq!(
            (code, &out["valid"]),
            (0, &Value::Bool(true)),
            "{scheme}: {out} {err}"
        );
    }
    // A key file that is not there is a usage error, not a key.
    let (code, _, err) = run(
        &[
            "verify",
            "--scheme",
            "ses",
            "--key",
            "keys/cert.pm",
            "--topic",
            topic,
            "--body",
            &body,
        ],
        b"",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read key file keys/cert.pm"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn send_refuses_credentials_in_the_url_and_never_sends_the_fragment() {
    use std::io::{BufRead as _, BufReader};
    let (code, _, err) = run(
        &[
            "send",
            "--provider",
            "getresponse",
            "--event",
            "opened",
            "--secret",
            "s",
            "--to",
            "http://user:pw@127.0.0.1:9/webhooks/getresponse",
        ],
        b"",
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("credentials before its host"), "{err}");

    // A receiver that records the request line and answers 200.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("request line");
        let mut stream = reader.into_inner();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .expect("answer");
        line
    });
    let to = format!("http://127.0.0.1:{port}/webhooks/getresponse#section");
    let (code, out, err) = run(
        &[
            "send",
            "--provider",
            "getresponse",
            "--event",
            "opened",
            "--secret",
            "s",
            "--to",
            &to,
        ],
        b"",
    );
    assert_eq!(code, 0, "{out} {err}");
    let line = seen.join().expect("receiver");
    assert_eq!(line, "POST /webhooks/getresponse?secret=s HTTP/1.1\r\n");
}

/// The first certificate given is not valid at the delivery's time (a new
/// one, valid from an hour ago, checked a day back): the second, which
/// signed it, still verifies it. Rotation stopped at the first.
#[test]
fn ses_and_sns_go_past_a_certificate_not_valid_at_the_time() {
    let dir = std::env::temp_dir().join(format!("email-webhooks-validity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let new_cert = dir.join("new.pem").display().to_string();
    let (code, _, err) = run(
        &["keygen", "--provider", "ses", "--cert-out", &new_cert],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let old_cert = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sns-test-cert.pem")
        .display()
        .to_string();
    let topic = "arn:aws:sns:eu-west-1:1:t";
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let old_key = include_bytes!("data/sns-test-key.pk8");
    let day_ago = now - 86_400;
    let old_body = dir.join("old.json");
    std::fs::write(&old_body, common::ses_notification(old_key, day_ago)).expect("write");
    let old_body = old_body.display().to_string();
    let day_ago = day_ago.to_string();
    for scheme in ["ses", "sns"] {
        let (code, out, err) = run(
            &[
                "verify", "--scheme", scheme, "--key", &new_cert, "--key", &old_cert, "--topic",
                topic, "--body", &old_body, "--now", &day_ago,
            ],
            b"",
        );
        assert_eq!(
            (code, &out["valid"]),
            (0, &Value::Bool(true)),
            "{scheme}: {out} {err}"
        );
        assert_eq!(out["key_index"], 1, "{scheme}: {out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
