//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use email_webhooks::scheme::github::GitHubVerifier;
use email_webhooks::scheme::standard::{StandardWebhooks, VerifyingKey};
use email_webhooks::scheme::stripe::StripeVerifier;
use email_webhooks::scheme::twilio::TwilioVerifier;
use email_webhooks::scheme::{shopify, slack};
use email_webhooks::{Secret, VerifyError};
use serde::Deserialize;
use time::OffsetDateTime;

/// One known-answer vector file (see tests/vectors/README.md).
#[derive(Debug, Deserialize)]
pub struct Vector {
    pub scheme: String,
    pub source: String,
    pub secret: String,
    #[serde(default)]
    pub signing_key_base64: Option<String>,
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub body: String,
    #[serde(default)]
    pub now: Option<i64>,
    #[serde(default)]
    pub url: Option<String>,
    pub expect: String,
}

impl Vector {
    pub fn load(name: &str) -> Vector {
        let path = vector_dir().join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A vector from tests/vectors/providers (the same fields; `key` is the
    /// secret).
    pub fn load_provider(name: &str) -> Vector {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors/providers")
            .join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut value: serde_json::Value = serde_json::from_str(&text).expect("json");
        value["scheme"] = value["esp"].clone();
        value["secret"] = value["key"].clone();
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect()
    }

    /// Runs the vector through the library; `Ok(())` or the error code.
    pub fn verify(&self) -> Result<(), &'static str> {
        let headers = self.header_pairs();
        let body = self.body.as_bytes();
        let now = self.now.map_or_else(OffsetDateTime::now_utc, at);
        let raw = || Secret::from_bytes(self.secret.as_bytes()).map_err(VerifyError::from);
        let result = match self.scheme.as_str() {
            "standard-webhooks" | "standard-webhooks-v1a" => VerifyingKey::parse(&self.secret)
                .map_err(VerifyError::from)
                .and_then(|k| {
                    StandardWebhooks::new(k)
                        .verify_at(&headers, body, now)
                        .map(drop)
                }),
            "stripe" => raw().and_then(|s| {
                StripeVerifier::new(s)
                    .verify_at(&headers, body, now)
                    .map(drop)
            }),
            "github" => raw().and_then(|s| GitHubVerifier::new(s).verify(&headers, body).map(drop)),
            "slack" => {
                raw().and_then(|s| slack::verifier(s).verify_at(&headers, body, now).map(drop))
            }
            "shopify" => raw().and_then(|s| {
                shopify::verifier(s)
                    .verify_at(&headers, body, now)
                    .map(drop)
            }),
            "twilio" => raw().and_then(|s| {
                TwilioVerifier::new(s)
                    .verify(&headers, self.url.as_deref().unwrap_or_default(), body)
                    .map(drop)
            }),
            other => panic!("no scheme {other}"),
        };
        result.map_err(|e| e.code())
    }
}

/// One provider payload sample (see tests/samples/README.md).
#[derive(Debug, Deserialize)]
pub struct Sample {
    pub esp: String,
    pub source: String,
    pub body: String,
}

impl Sample {
    pub fn load(name: &str) -> Sample {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/samples")
            .join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// Unix seconds of an RFC 3339 time, for readable assertions.
pub fn unix(rfc3339: &str) -> i64 {
    OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .expect("rfc3339")
        .unix_timestamp()
}

pub fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/schemes")
}

pub fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).expect("timestamp in range")
}

/// `text` percent-encoded for a form field: every byte but ASCII letters and
/// digits as `%XX`.
pub fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An SES notification signed with `key` (PKCS#8 DER) at `at`, Unix seconds.
pub fn ses_notification(key: &[u8], at: i64) -> Vec<u8> {
    let url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem";
    let message = serde_json::json!({
        "eventType": "Delivery",
        "mail": {"messageId": "0100-x", "timestamp": "2023-11-14T22:13:20.000Z",
                 "source": "a@example.com", "destination": ["b@example.com"]},
        "delivery": {"timestamp": "2023-11-14T22:13:21.000Z", "recipients": ["b@example.com"]},
    });
    let envelope = serde_json::json!({
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:eu-west-1:1:t",
        "Message": message.to_string(),
        "Timestamp": time::OffsetDateTime::from_unix_timestamp(at).expect("time")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format"),
        "SignatureVersion": "2",
        "SigningCertURL": url,
    });
    let url = email_webhooks::provider::sns::SigningCertUrl::parse(url).expect("url");
    let signer = email_webhooks::provider::sns::SnsSigner::from_pkcs8(key, url).expect("key");
    signer.sign(envelope).expect("sign")
}
