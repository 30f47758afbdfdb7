//! The data-driven inbound suite: each message written for these tests
//! (`tests/inbound/*.eml`: plain, HTML only, multipart/alternative,
//! attachments with an inline image and a filename with path separators, a
//! forwarded `message/rfc822`, ISO-8859-1 with encoded words) delivered in
//! each provider's own shape, read back by that provider's parser (and
//! fetched where the provider serves content by reference), and compared
//! with the message read straight from its MIME: the same subject, sender,
//! recipients, bodies and attachments, and a key that a redelivery keeps.
//!
//! Providers that post the raw message carry it as they do (a form field,
//! a JSON string, base64); those that post parsed fields get the fields of
//! the message as the MIME parser reads it, in their own names.
//! Mandrill's `raw_msg` and MailerSend's `data.raw` are JSON strings: an
//! 8-bit ISO-8859-1 body cannot be one, so those two read the other
//! messages.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use email_webhooks::inbound::{InboundLimits, InboundMessage, StaticContent};
use email_webhooks::{Provider, Request};
use futures_util::FutureExt as _;
use serde_json::{Value, json};

const MESSAGES: &[&str] = &[
    "plain.eml",
    "html-only.eml",
    "alternative.eml",
    "attachments.eml",
    "forwarded.eml",
    "latin1.eml",
];

const RECIPIENT: &str = "support@example.org";

fn data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/inbound")
        .join(name);
    std::fs::read(path).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `multipart/form-data` body of text fields and one raw field.
fn form(boundary: &str, fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

fn address(a: &email_webhooks::inbound::Address) -> Value {
    json!({"address": a.address, "name": a.name})
}

/// A delivery: its content type, body, and what the provider serves by
/// reference for it.
struct Delivery {
    content_type: String,
    body: Vec<u8>,
    served: Vec<(String, Vec<u8>)>,
}

impl Delivery {
    fn of(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            content_type: content_type.to_owned(),
            body: body.into(),
            served: Vec::new(),
        }
    }
}

/// `raw` (read by the MIME parser as `m`) as `provider` delivers it;
/// `None` where the provider cannot carry it.
#[allow(clippy::too_many_lines)] // One shape per provider, side by side.
fn deliver(provider: Provider, raw: &[u8], m: &InboundMessage) -> Option<Delivery> {
    let utf8 = std::str::from_utf8(raw).ok();
    let id = format!("{:x}", raw.len());
    Some(match provider {
        Provider::Sendgrid => Delivery::of(
            "multipart/form-data; boundary=SGb0und",
            form(
                "SGb0und",
                &[
                    ("to", RECIPIENT.as_bytes()),
                    ("envelope", br#"{"to":["support@example.org"],"from":"a@example.net"}"#),
                    ("email", raw),
                ],
            ),
        ),
        Provider::Mailgun => Delivery::of(
            "multipart/form-data; boundary=MGb0und",
            form(
                "MGb0und",
                &[
                    ("recipient", RECIPIENT.as_bytes()),
                    ("sender", b"a@example.net"),
                    ("timestamp", b"1796551200"),
                    ("token", b"t0k3n"),
                    ("signature", b"00"),
                    ("body-mime", raw),
                ],
            ),
        ),
        Provider::Ses => {
            let notification = json!({"notificationType": "Received",
                "mail": {"messageId": id, "source": "a@example.net"},
                "receipt": {"recipients": [RECIPIENT], "action": {"type": "SNS", "encoding": "BASE64"}},
                "content": b64(raw)});
            let envelope = json!({"Type": "Notification", "MessageId": "sns-1",
                "Message": notification.to_string(), "Timestamp": "2026-12-06T10:00:00Z"});
            Delivery::of("text/plain", envelope.to_string())
        }
        Provider::Mandrill => {
            let events = json!([{"event": "inbound", "ts": 1, "msg": {"email": RECIPIENT, "raw_msg": utf8?}}]);
            let body: String =
                url_encoded(&[("mandrill_events", events.to_string().as_str())]);
            Delivery::of("application/x-www-form-urlencoded", body)
        }
        Provider::Sparkpost => Delivery::of(
            "application/json",
            json!([{"msys": {"relay_message": {"content": {"email_rfc822": b64(raw),
                "email_rfc822_is_base64": true}, "rcpt_to": RECIPIENT, "msg_from": "a@example.net"}}}])
            .to_string(),
        ),
        Provider::Mailersend => Delivery::of(
            "application/json",
            json!({"type": "inbound.message", "data": {"id": id,
                "recipients": {"rcptTo": [{"email": RECIPIENT}]}, "sender": {"email": "a@example.net"},
                "raw": utf8?}})
            .to_string(),
        ),
        Provider::Postal => Delivery::of(
            "application/json",
            json!({"id": 7, "rcpt_to": RECIPIENT, "mail_from": "a@example.net", "message": b64(raw),
                "base64": true, "size": raw.len()})
            .to_string(),
        ),
        Provider::Resend => {
            let api = format!("https://api.resend.com/emails/receiving/e-{id}");
            let link = format!("https://downloads.example.invalid/e-{id}.eml");
            let mut d = Delivery::of(
                "application/json",
                json!({"type": "email.received", "data": {"email_id": format!("e-{id}"), "to": [RECIPIENT],
                    "subject": m.subject}})
                .to_string(),
            );
            d.served = vec![
                (api, json!({"raw": {"download_url": link}}).to_string().into_bytes()),
                (link, raw.to_vec()),
            ];
            d
        }
        Provider::Postmark => {
            let attachments: Vec<Value> = m
                .attachments
                .iter()
                .map(|a| json!({"Name": a.filename, "Content": b64(&a.content),
                    "ContentType": a.content_type, "ContentLength": a.size, "ContentID": a.content_id}))
                .collect();
            let recipients = |list: &[email_webhooks::inbound::Address]| -> Vec<Value> {
                list.iter().map(|a| json!({"Email": a.address, "Name": a.name})).collect()
            };
            Delivery::of(
                "application/json",
                json!({"MessageID": id, "OriginalRecipient": RECIPIENT, "Subject": m.subject,
                    "FromFull": m.from.as_ref().map(|a| json!({"Email": a.address, "Name": a.name})),
                    "ToFull": recipients(&m.to), "CcFull": recipients(&m.cc),
                    "TextBody": m.text, "HtmlBody": m.html,
                    "Headers": m.headers.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
                    "Attachments": attachments})
                .to_string(),
            )
        }
        Provider::Mailjet => {
            let mut doc = json!({"Sender": "a@example.net", "Recipient": RECIPIENT,
                "Headers": headers_object(&m.headers), "Parts": [], "Text-part": m.text, "Html-part": m.html});
            for (i, a) in m.attachments.iter().enumerate() {
                let key = format!("Attachment{}", i + 1);
                let disposition = if a.inline { "inline" } else { "attachment" };
                let filename = a.filename.as_deref().map_or(String::new(), |f| {
                    format!("; filename*=UTF-8''{}", percent(f))
                });
                let mut headers = json!({"Content-Type": a.content_type.clone().unwrap_or_default(),
                    "Content-Disposition": format!("{disposition}{filename}")});
                if let Some(cid) = &a.content_id {
                    headers["Content-ID"] = format!("<{cid}>").into();
                }
                doc["Parts"].as_array_mut().unwrap().push(json!({"Headers": headers, "ContentRef": key}));
                doc[key.as_str()] = b64(&a.content).into();
            }
            Delivery::of("application/json", doc.to_string())
        }
        Provider::Brevo => {
            let mut served = Vec::new();
            let attachments: Vec<Value> = m
                .attachments
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let token = format!("tok-{id}-{i}");
                    served.push((
                        format!("https://api.brevo.com/v3/inbound/attachments/{token}"),
                        a.content.clone(),
                    ));
                    json!({"Name": a.filename, "ContentType": a.content_type, "ContentLength": a.size,
                        "ContentID": a.content_id, "DownloadToken": token})
                })
                .collect();
            let brevo_address = |a: &email_webhooks::inbound::Address| json!({"Address": a.address, "Name": a.name});
            let item = json!({"Uuid": [format!("u-{id}")], "MessageId": m.message_id.as_ref().map(|id| format!("<{id}>")),
                "From": m.from.as_ref().map(brevo_address),
                "To": m.to.iter().map(brevo_address).collect::<Vec<_>>(),
                "Cc": m.cc.iter().map(brevo_address).collect::<Vec<_>>(),
                "Subject": m.subject, "Headers": headers_object(&m.headers),
                "RawTextBody": m.text, "RawHtmlBody": m.html, "Attachments": attachments});
            let mut d = Delivery::of("application/json", json!({"items": [item]}).to_string());
            d.served = served;
            d
        }
        Provider::Mailkite => Delivery::of(
            "application/json",
            json!({"type": "email.received", "id": id, "from": m.from.as_ref().map(address),
                "to": m.to.iter().map(address).collect::<Vec<_>>(), "subject": m.subject,
                "text": m.text, "html": m.html})
            .to_string(),
        ),
        _ => return None,
    })
}

/// Header fields as a JSON object of name to value, or to a list for a
/// repeated one (Mailjet's and Brevo's shape).
fn headers_object(headers: &[(String, String)]) -> Value {
    let mut object = serde_json::Map::new();
    for (name, value) in headers {
        match object.get_mut(name) {
            None => {
                object.insert(name.clone(), value.clone().into());
            }
            Some(Value::Array(list)) => list.push(value.clone().into()),
            Some(one) => *one = json!([one.clone(), value]),
        }
    }
    Value::Object(object)
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn url_encoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Parses a delivery as `provider`, fetching what it refers to.
fn read(provider: Provider, delivery: &Delivery) -> InboundMessage {
    let limits = InboundLimits::default();
    let inbound = provider.info().unwrap().inbound.unwrap();
    let headers = [("Content-Type", delivery.content_type.as_str())];
    let mut messages = (inbound.parse)(&Request::new(&headers, &delivery.body), &limits)
        .unwrap_or_else(|e| panic!("{provider}: {e}"));
    assert_eq!(messages.len(), 1, "{provider}");
    let mut message = messages.remove(0);
    let mut served = StaticContent::new();
    for (url, bytes) in &delivery.served {
        served = served.with(url.clone(), bytes.clone());
    }
    message
        .fetch(&served, &limits)
        .now_or_never()
        .unwrap()
        .unwrap_or_else(|e| panic!("{provider}: {e}"));
    message
}

/// Every inbound provider reads every message as its MIME says.
#[test]
fn every_provider_reads_every_message_as_its_mime_says() {
    let providers: Vec<Provider> = Provider::ALL
        .iter()
        .copied()
        .filter(|p| p.info().is_some_and(|i| i.inbound.is_some()))
        .collect();
    let mut checked = 0;
    for name in MESSAGES {
        let raw = data(name);
        let m =
            InboundMessage::from_mime(Provider::Sendgrid, &raw, &InboundLimits::default()).unwrap();
        for &provider in &providers {
            let Some(delivery) = deliver(provider, &raw, &m) else {
                assert!(
                    matches!(provider, Provider::Mandrill | Provider::Mailersend)
                        && *name == "latin1.eml",
                    "{provider} {name}"
                );
                continue;
            };
            let got = read(provider, &delivery);
            let what = format!("{provider} {name}");
            assert_eq!(got.provider, provider, "{what}");
            assert_eq!(got.subject, m.subject, "{what}");
            assert_eq!(
                got.from.as_ref().and_then(|a| a.address.clone()),
                m.from.as_ref().and_then(|a| a.address.clone()),
                "{what}"
            );
            assert_eq!(got.text, m.text, "{what}");
            assert_eq!(got.html, m.html, "{what}");
            // MailKite posts its attachments as links, not followed.
            if provider != Provider::Mailkite {
                assert_eq!(got.to, m.to, "{what}");
                assert_eq!(got.attachments.len(), m.attachments.len(), "{what}");
                for (a, b) in got.attachments.iter().zip(&m.attachments) {
                    assert_eq!(a.content, b.content, "{what}");
                    assert_eq!(a.size, b.content.len(), "{what}");
                    assert_eq!(a.filename, b.filename, "{what}");
                    assert_eq!(a.safe_filename(), b.safe_filename(), "{what}");
                    assert_eq!(a.content_id, b.content_id, "{what}");
                    assert_eq!(a.inline, b.inline, "{what}");
                }
            }
            // Those that carry the raw message keep it, and its headers.
            if got.raw.is_some() {
                assert_eq!(got.raw.as_deref(), Some(raw.as_slice()), "{what}");
                assert_eq!(got.headers, m.headers, "{what}");
            }
            // The same delivery again: the same key.
            assert_eq!(
                read(provider, &delivery).idempotency_key(),
                got.idempotency_key(),
                "{what}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, MESSAGES.len() * providers.len() - 2);
}
