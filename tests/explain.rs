//! `email-webhooks explain`: each known mistake, made on a genuine signed
//! request, is diagnosed by its code; a request with no known mistake gets
//! no cause; nothing secret is printed.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "cli")]

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;

fn run(args: &[&str], stdin: &[u8]) -> (i32, Value, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_email-webhooks"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let _ = child.stdin.take().expect("stdin").write_all(stdin);
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const T: i64 = 1_700_000_000;
const BODY: &str =
    r#"{"type":"email.delivered","data":{"to":["a@example.com"],"url":"https://example.com/x"}}"#;

/// Headers `scheme` signs `body` with, as `--header` values.
fn signed(scheme: &str, secret: &str, body: &str, url: Option<&str>) -> Vec<String> {
    let t = T.to_string();
    let mut args = vec![
        "sign",
        "--scheme",
        scheme,
        "--secret",
        secret,
        "--timestamp",
        &t,
        "--id",
        "msg_1",
    ];
    if let Some(url) = url {
        args.extend(["--url", url]);
    }
    let (code, out, err) = run(&args, body.as_bytes());
    assert_eq!(code, 0, "{err}");
    out["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().expect("value")))
        .collect()
}

/// `explain --json` of a request.
fn explain(
    scheme: &str,
    flags: &[&str],
    headers: &[String],
    body: &[u8],
    now: i64,
) -> (i32, Value) {
    let now = now.to_string();
    let mut args = vec!["explain", "--json", "--scheme", scheme, "--now", &now];
    args.extend_from_slice(flags);
    for h in headers {
        args.extend(["--header", h.as_str()]);
    }
    let (code, out, err) = run(&args, body);
    assert!(out.is_object(), "{out} {err}");
    (code, out)
}

fn cause(out: &Value) -> Option<&str> {
    out["cause"].as_str()
}

#[test]
fn a_genuine_request_verifies_and_names_no_cause() {
    let headers = signed("standard-webhooks", WHSEC, BODY, None);
    let (code, out) = explain(
        "standard-webhooks",
        &["--secret", WHSEC],
        &headers,
        BODY.as_bytes(),
        T,
    );
    assert_eq!(code, 0);
    assert_eq!(out, serde_json::json!({"verified": true}));
}

#[test]
fn each_body_mistake_is_named() {
    let headers = signed("standard-webhooks", WHSEC, BODY, None);
    // Pretty-printed with two spaces, keys in their order (as
    // JavaScript's JSON.stringify(body, null, 2) writes it).
    let pretty = "{\n  \"type\": \"email.delivered\",\n  \"data\": {\n    \"to\": [\n      \"a@example.com\"\n    ],\n    \"url\": \"https://example.com/x\"\n  }\n}";
    let cases = [
        ("body_reserialized", pretty.to_owned()),
        ("body_reserialized", BODY.replace('/', "\\/")),
        ("body_trailing_newline", format!("{BODY}\n")),
    ];
    for (code_wanted, body) in cases {
        let (code, out) = explain(
            "standard-webhooks",
            &["--secret", WHSEC],
            &headers,
            body.as_bytes(),
            T,
        );
        assert_eq!((code, cause(&out)), (0, Some(code_wanted)), "{out}");
        assert!(
            out["hint"].as_str().unwrap().contains("raw") || code_wanted != "body_reserialized"
        );
    }
    // Line endings: a multi-line body signed with LF, received with CRLF.
    let lf = "{\n\"a\": 1\n}";
    let headers = signed("standard-webhooks", WHSEC, lf, None);
    let (_, out) = explain(
        "standard-webhooks",
        &["--secret", WHSEC],
        &headers,
        lf.replace('\n', "\r\n").as_bytes(),
        T,
    );
    assert_eq!(cause(&out), Some("body_line_endings"), "{out}");
}

#[test]
fn secret_url_clock_key_and_header_mistakes_are_named() {
    // Stripe uses its whsec_ secret as raw text: configured without the prefix.
    let stripe_secret = "whsec_stripe_raw_text";
    let headers = signed("stripe", stripe_secret, BODY, None);
    let (_, out) = explain(
        "stripe",
        &["--secret", "stripe_raw_text"],
        &headers,
        BODY.as_bytes(),
        T,
    );
    assert_eq!(cause(&out), Some("secret_encoding"), "{out}");

    // Twilio signs the public URL: the receiver knows itself by http://.
    let url = "https://hooks.example.com/sms";
    let form = "Body=hi&From=%2B15550001";
    let headers = signed("twilio", "tw-token", form, Some(url));
    let (_, out) = explain(
        "twilio",
        &[
            "--secret",
            "tw-token",
            "--url",
            "http://hooks.example.com/sms",
        ],
        &headers,
        form.as_bytes(),
        T,
    );
    assert_eq!(cause(&out), Some("url_variant"), "{out}");

    // A good signature, two hours old.
    let headers = signed("standard-webhooks", WHSEC, BODY, None);
    let (_, out) = explain(
        "standard-webhooks",
        &["--secret", WHSEC],
        &headers,
        BODY.as_bytes(),
        T + 7200,
    );
    assert_eq!(cause(&out), Some("clock_skew"), "{out}");
    assert_eq!(out["skew_seconds"], -7200);

    // The staging key is configured; production's is the second given.
    let other = "whsec_dGhpcyBpcyBhbm90aGVyIGtleSAxMjM0NTY3OA==";
    let (_, out) = explain(
        "standard-webhooks",
        &["--secret", other, "--secret", WHSEC],
        &headers,
        BODY.as_bytes(),
        T,
    );
    assert_eq!(
        (cause(&out), &out["key_index"]),
        (Some("wrong_key"), &Value::from(1)),
        "{out}"
    );

    // A proxy joined two webhook-id headers; another mixed the families.
    let joined: Vec<String> = headers
        .iter()
        .map(|h| h.replacen("webhook-id: msg_1", "webhook-id: msg_1, msg_1", 1))
        .collect();
    let (_, out) = explain(
        "standard-webhooks",
        &["--secret", WHSEC],
        &joined,
        BODY.as_bytes(),
        T,
    );
    assert_eq!(cause(&out), Some("headers_joined"), "{out}");
    let mixed: Vec<String> = headers
        .iter()
        .map(|h| h.replacen("webhook-signature", "svix-signature", 1))
        .collect();
    let (_, out) = explain(
        "standard-webhooks",
        &["--secret", WHSEC],
        &mixed,
        BODY.as_bytes(),
        T,
    );
    assert_eq!(cause(&out), Some("header_family"), "{out}");
}

#[test]
fn a_request_with_no_known_mistake_gets_no_cause_and_no_secret_is_printed() {
    let headers = signed("standard-webhooks", WHSEC, BODY, None);
    let forged = "{\"type\":\"email.bounced\"}";
    let (code, out) = explain(
        "standard-webhooks",
        &["--secret", WHSEC],
        &headers,
        forged.as_bytes(),
        T,
    );
    assert_eq!(code, 1);
    assert_eq!(out["cause"], Value::Null, "{out}");
    assert_eq!(out["verified"], false);
    let printed = out.to_string();
    assert!(
        !printed.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "{printed}"
    );
    let signature = headers
        .iter()
        .find(|h| h.starts_with("webhook-signature"))
        .unwrap();
    let mac = signature.split(',').nth(1).unwrap();
    assert!(!printed.contains(mac), "{printed}");
    assert!(!printed.contains("email.bounced"), "{printed}");
    assert!(out["attempts"].as_u64().unwrap() <= 64);
}

#[test]
fn a_provider_is_explained_through_the_registry() {
    // Mandrill signs the configured URL: the receiver gave its own.
    let to = "https://hooks.example.com/webhooks/mandrill";
    let (code, delivery, err) = run(
        &[
            "send",
            "--provider",
            "mandrill",
            "--secret",
            "k",
            "--event",
            "bounced",
            "--to",
            to,
            "--print",
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let headers: Vec<String> = delivery["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap()))
        .collect();
    let body = delivery["body"].as_str().unwrap().as_bytes();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (_, out) = explain(
        "mandrill",
        &[
            "--secret",
            "k",
            "--url",
            "https://hooks.example.com/webhooks/mandrill/",
        ],
        &headers,
        body,
        now,
    );
    assert_eq!(cause(&out), Some("url_variant"), "{out}");
    // Without --json: plain words.
    let (code, text, _) = run(
        &[
            "explain", "--scheme", "mandrill", "--secret", "k", "--url", to,
        ],
        body,
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.as_str().is_some_and(|t| t.contains("does not verify")),
        "{text}"
    );
}

/// The library's own diagnosis of a registry provider, as a receiver would
/// run it while developing.
#[test]
fn diagnose_provider_names_a_reserialized_mailersend_body() {
    use email_webhooks::explain::{Cause, Parts, diagnose_provider};
    use email_webhooks::provider::{Settings, Simulation};
    use email_webhooks::{EventKind, Provider};
    let mut settings = Settings::new();
    settings.secrets.push("signing-secret".into());
    let sim = Simulation::new(
        EventKind::Clicked,
        "a@example.com",
        "e1",
        1_765_000_000,
        &settings,
    );
    let delivery = (Provider::Mailersend.info().unwrap().simulate)(&sim).unwrap();
    // A framework parsed the JSON and wrote it back: MailerSend's escaped
    // slashes are gone.
    let value: Value = serde_json::from_slice(&delivery.body).unwrap();
    let parts = Parts::new(delivery.headers.clone(), value.to_string().into_bytes());
    let diagnosis = diagnose_provider(Provider::Mailersend, &parts, &settings).unwrap();
    assert!(!diagnosis.verified);
    assert_eq!(diagnosis.cause, Some(Cause::BodyReserialized));
    let genuine = Parts::new(delivery.headers, delivery.body);
    assert!(
        diagnose_provider(Provider::Mailersend, &genuine, &settings)
            .unwrap()
            .verified
    );
}

/// Re-serializations other than compact and pretty: signed with Python's
/// spaced separators and received compact (or pretty), signed with raw
/// UTF-8 and received with `\uXXXX` escapes (or the reverse, a surrogate
/// pair among them); and a URL whose query a proxy rebuilt in another
/// order. Each was missed before (`cause: null`).
#[test]
fn spaced_json_unicode_escapes_and_query_order_are_named() {
    let spaced = r#"{"type": "email.delivered", "data": {"to": ["a@example.com"], "n": 1}}"#;
    let compact = r#"{"type":"email.delivered","data":{"to":["a@example.com"],"n":1}}"#;
    let pretty = "{\n  \"type\": \"email.delivered\",\n  \"data\": {\n    \"to\": [\n      \"a@example.com\"\n    ],\n    \"n\": 1\n  }\n}";
    let raw = r#"{"name":"Zoë 😀","to":"a@example.com"}"#;
    let escaped = r#"{"name":"Zo\u00eb \ud83d\ude00","to":"a@example.com"}"#;
    let cases = [
        ("github", spaced, compact),
        ("stripe", spaced, pretty),
        ("slack", spaced, compact),
        ("github", raw, escaped),
        ("standard-webhooks", escaped, raw),
    ];
    for (scheme, signed_body, given) in cases {
        let secret = if scheme == "standard-webhooks" {
            WHSEC
        } else {
            "s3cret"
        };
        let headers = signed(scheme, secret, signed_body, None);
        let (code, out) = explain(scheme, &["--secret", secret], &headers, given.as_bytes(), T);
        assert_eq!(
            (code, cause(&out)),
            (0, Some("body_reserialized")),
            "{scheme}: signed {signed_body}, given {given}: {out}"
        );
    }
    // Twilio signed `?b=2&a=1`; the receiver rebuilt `?a=1&b=2`.
    let form = "Body=hi";
    for (signed_url, given_url) in [
        (
            "https://hooks.example.com/sms?b=2&a=1",
            "https://hooks.example.com/sms?a=1&b=2",
        ),
        (
            "https://hooks.example.com/sms?c=3&a=1&b=2",
            "https://hooks.example.com/sms?a=1&b=2&c=3",
        ),
    ] {
        let headers = signed("twilio", "tw-token", form, Some(signed_url));
        let (code, out) = explain(
            "twilio",
            &["--secret", "tw-token", "--url", given_url],
            &headers,
            form.as_bytes(),
            T,
        );
        assert_eq!(
            (code, cause(&out)),
            (0, Some("url_variant")),
            "{given_url}: {out}"
        );
        assert!(out["attempts"].as_u64().unwrap() <= 64, "{out}");
    }
}

#[test]
fn a_stale_capture_still_shows_its_other_mistake_and_how_old_it_is() {
    let headers = signed("standard-webhooks", WHSEC, BODY, None);
    let with_newline = format!("{BODY}\n");
    // Checked two hours after it was signed, without --now: the newline is
    // the mistake, and the age is reported beside it.
    let (code, out) = explain(
        "standard-webhooks",
        &["--secret", WHSEC],
        &headers,
        with_newline.as_bytes(),
        T + 7200,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(cause(&out), Some("body_trailing_newline"), "{out}");
    assert_eq!(out["also"], "clock_skew", "{out}");
    assert_eq!(out["skew_seconds"], -7200, "{out}");
    // Another environment's key, stale as well.
    let other = "whsec_dGhpcyBpcyBhbm90aGVyIGtleSAxMjM0NTY3OA==";
    let (_, out) = explain(
        "standard-webhooks",
        &["--secret", other, "--secret", WHSEC],
        &headers,
        BODY.as_bytes(),
        T + 7200,
    );
    assert_eq!(
        (cause(&out), &out["key_index"], &out["also"]),
        (
            Some("wrong_key"),
            &Value::from(1),
            &Value::from("clock_skew")
        ),
        "{out}"
    );
    // Fresh: the newline alone.
    let (_, out) = explain(
        "standard-webhooks",
        &["--secret", WHSEC],
        &headers,
        with_newline.as_bytes(),
        T,
    );
    assert_eq!(cause(&out), Some("body_trailing_newline"), "{out}");
    assert!(out.get("also").is_none(), "{out}");
}

#[test]
fn rotated_basic_auth_credentials_are_tried_as_other_keys() {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("new:b");
    let header = format!("Authorization: Basic {auth}");
    let body = br#"{"RecordType":"Delivery","MessageID":"m","Recipient":"a@example.com","DeliveredAt":"2023-11-14T22:13:20Z"}"#;
    let (code, out) = explain(
        "postmark",
        &["--basic-auth", "old:a", "--basic-auth", "new:b"],
        &[header],
        body,
        T,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        (cause(&out), &out["key_index"]),
        (Some("wrong_key"), &Value::from(1)),
        "{out}"
    );
    assert!(!out.to_string().contains(&auth), "{out}");
}

#[test]
fn credentials_and_queries_in_the_url_are_never_printed_nor_digested() {
    let url = "https://hook:S3cr3t@hooks.example.com/mandrill?key=Qu3ry";
    let (code, out) = explain(
        "mandrill",
        &["--secret", "k", "--url", url],
        &["X-Mandrill-Signature: eA==".to_owned()],
        b"mandrill_events=%5B%5D",
        T,
    );
    assert_eq!(code, 1, "{out}");
    let text = out.to_string();
    assert!(!text.contains("S3cr3t") && !text.contains("Qu3ry"), "{out}");
    let shown = &out["signed"]["url"];
    assert_eq!(
        shown["without_query"], "https://hooks.example.com/mandrill",
        "{out}"
    );
    assert_eq!(
        (&shown["has_credentials"], &shown["has_query"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    assert!(shown.get("sha256").is_none(), "{out}");
}

#[test]
fn an_old_ses_notification_is_named_with_its_age() {
    let key = include_bytes!("data/sns-test-key.pk8");
    let cert =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sns-test-cert.pem");
    // Signed three hours ago (the test certificate is recent: not `T`).
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = common::ses_notification(key, now - 3 * 3600);
    let cert = cert.display().to_string();
    for scheme in ["ses", "sns"] {
        let (code, out) = explain(
            scheme,
            &["--key", &cert, "--topic", "arn:aws:sns:eu-west-1:1:t"],
            &[],
            &body,
            now,
        );
        assert_eq!(code, 0, "{scheme}: {out}");
        assert_eq!(cause(&out), Some("clock_skew"), "{scheme}: {out}");
        assert_eq!(out["skew_seconds"], -3 * 3600, "{scheme}: {out}");
    }
}

/// A header that carries a secret itself (SparkPost's relay token, an API
/// key) has no digest printed: a short secret's unsalted digest is guessed
/// offline. Only `Authorization` was left out.
#[test]
fn headers_that_carry_secrets_are_not_digested() {
    let (_, out) = explain(
        "standard-webhooks",
        &["--secret", WHSEC],
        &[
            "X-MessageSystems-Webhook-Token: s3cr3t-relay-token".to_owned(),
            "X-Api-Key: k3y".to_owned(),
            "webhook-id: msg_1".to_owned(),
        ],
        BODY.as_bytes(),
        T,
    );
    let names: Vec<&str> = out["signed"]["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter_map(|h| h["name"].as_str())
        .collect();
    assert_eq!(names, ["webhook-id"], "{out}");
}
