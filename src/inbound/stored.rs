//! An [`InboundMessage`] as a queue stores it: JSON, bytes in base64,
//! every field kept (the raw message and the attachments' content too), so
//! a worker gets the message the receiver parsed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{Address, Attachment, InboundMessage};
use crate::queue::{NewJob, StoreError, UndecodablePayload};

#[derive(Serialize, Deserialize)]
struct Stored<S> {
    v: u8,
    provider: S,
    event_id: Option<S>,
    timestamp: Option<i128>,
    envelope_sender: Option<S>,
    envelope_recipient: Option<S>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    envelope_recipients: Vec<S>,
    from: Option<(Option<S>, Option<S>)>,
    to: Vec<(Option<S>, Option<S>)>,
    cc: Vec<(Option<S>, Option<S>)>,
    subject: Option<S>,
    date: Option<i128>,
    message_id: Option<S>,
    text: Option<S>,
    html: Option<S>,
    stripped_text: Option<S>,
    spam_detected: Option<bool>,
    spam_score: Option<f64>,
    headers: Vec<(S, S)>,
    attachments: Vec<StoredAttachment<S>>,
    raw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unreadable: Option<S>,
}

#[derive(Serialize, Deserialize)]
struct StoredAttachment<S> {
    filename: Option<S>,
    content_type: Option<S>,
    content_id: Option<S>,
    inline: bool,
    content: String,
}

fn address(a: &Address) -> (Option<&str>, Option<&str>) {
    (a.address.as_deref(), a.name.as_deref())
}

/// Encodes `message` for a queue.
///
/// # Errors
///
/// [`StoreError::Backend`] if a time set by hand cannot be written.
pub fn encode_inbound(message: &InboundMessage) -> Result<String, StoreError> {
    let nanos = |t: Option<time::OffsetDateTime>| t.map(time::OffsetDateTime::unix_timestamp_nanos);
    let stored = Stored {
        v: 1,
        provider: message.provider.as_str(),
        event_id: message.event_id.as_deref(),
        timestamp: nanos(message.timestamp),
        envelope_sender: message.envelope_sender.as_deref(),
        envelope_recipient: message.envelope_recipient.as_deref(),
        envelope_recipients: message
            .envelope_recipients
            .iter()
            .map(String::as_str)
            .collect(),
        from: message.from.as_ref().map(address),
        to: message.to.iter().map(address).collect(),
        cc: message.cc.iter().map(address).collect(),
        subject: message.subject.as_deref(),
        date: nanos(message.date),
        message_id: message.message_id.as_deref(),
        text: message.text.as_deref(),
        html: message.html.as_deref(),
        stripped_text: message.stripped_text.as_deref(),
        spam_detected: message.spam_detected,
        spam_score: message.spam_score.filter(|s| s.is_finite()),
        headers: message
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect(),
        attachments: message
            .attachments
            .iter()
            .map(|a| StoredAttachment {
                filename: a.filename.as_deref(),
                content_type: a.content_type.as_deref(),
                content_id: a.content_id.as_deref(),
                inline: a.inline,
                content: STANDARD.encode(&a.content),
            })
            .collect(),
        raw: message.raw.as_deref().map(|raw| STANDARD.encode(raw)),
        unreadable: message.unreadable.as_deref(),
    };
    serde_json::to_string(&stored).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// Decodes what [`encode_inbound`] wrote.
///
/// # Errors
///
/// [`UndecodablePayload`] for anything else (an event's payload, a
/// provider this build does not know).
pub fn decode_inbound(payload: &str) -> Result<InboundMessage, UndecodablePayload> {
    let bad = |e: &dyn std::fmt::Display| UndecodablePayload::new(e.to_string());
    let stored: Stored<String> = serde_json::from_str(payload).map_err(|e| bad(&e))?;
    if stored.v != 1 {
        return Err(bad(&format_args!("version {}", stored.v)));
    }
    let provider = stored
        .provider
        .parse()
        .map_err(|_| bad(&format_args!("unknown provider {:?}", stored.provider)))?;
    let time = |nanos: Option<i128>| {
        nanos
            .map(time::OffsetDateTime::from_unix_timestamp_nanos)
            .transpose()
            .map_err(|e| bad(&e))
    };
    let address = |(address, name): (Option<String>, Option<String>)| Address { address, name };
    let bytes = |text: &str| STANDARD.decode(text).map_err(|e| bad(&e));
    let mut message = InboundMessage::new(provider);
    message.event_id = stored.event_id;
    message.timestamp = time(stored.timestamp)?;
    message.envelope_sender = stored.envelope_sender;
    message.envelope_recipient = stored.envelope_recipient;
    message.envelope_recipients = stored.envelope_recipients;
    if message.envelope_recipients.is_empty() {
        // Queued before the list was kept: the one recipient it had.
        message
            .envelope_recipients
            .extend(message.envelope_recipient.clone());
    }
    message.from = stored.from.map(address);
    message.to = stored.to.into_iter().map(address).collect();
    message.cc = stored.cc.into_iter().map(address).collect();
    message.subject = stored.subject;
    message.date = time(stored.date)?;
    message.message_id = stored.message_id;
    message.text = stored.text;
    message.html = stored.html;
    message.stripped_text = stored.stripped_text;
    message.spam_detected = stored.spam_detected;
    message.spam_score = stored.spam_score;
    message.headers = stored.headers;
    for a in stored.attachments {
        let content = bytes(&a.content)?;
        message.attachments.push(Attachment {
            filename: a.filename,
            content_type: a.content_type,
            size: content.len(),
            content_id: a.content_id,
            inline: a.inline,
            content,
        });
    }
    message.raw = stored.raw.as_deref().map(bytes).transpose()?;
    message.unreadable = stored.unreadable;
    Ok(message)
}

impl NewJob {
    /// The job for an inbound `message`, keyed by
    /// [`InboundMessage::idempotency_key`], refused over `max_bytes`
    /// encoded.
    ///
    /// # Errors
    ///
    /// [`StoreError::TooLarge`] over `max_bytes`; [`StoreError::Backend`]
    /// if the message cannot be encoded.
    pub fn for_inbound(message: &InboundMessage, max_bytes: usize) -> Result<Self, StoreError> {
        let payload = encode_inbound(message)?;
        if payload.len() > max_bytes {
            return Err(StoreError::TooLarge {
                bytes: payload.len(),
                limit: max_bytes,
            });
        }
        Ok(Self::stored(message.idempotency_key(), payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default queue limit takes a message at the other defaults'
    /// limits: its raw copy and its attachments, both at their limits, in
    /// base64, with an ordinary text body. Regression: at 64 MiB such a
    /// message was answered 503 on every retry.
    #[test]
    fn a_message_at_the_body_and_attachment_limits_fits_the_queue_limit() {
        let limits = super::super::InboundLimits::default();
        let mut message = InboundMessage::new(crate::Provider::Ses);
        message.raw = Some(vec![b'a'; limits.max_body_bytes]);
        message.attachments.push(Attachment {
            filename: Some("big.bin".to_owned()),
            content_type: None,
            size: limits.max_decoded_bytes,
            content_id: None,
            inline: false,
            content: vec![0xff; limits.max_decoded_bytes],
        });
        message.text = Some("Hello".repeat(100_000));
        let encoded = encode_inbound(&message).unwrap();
        assert!(
            encoded.len() <= limits.max_queued_bytes,
            "{}",
            encoded.len()
        );
    }

    #[test]
    fn every_field_survives_the_queue() {
        let raw = b"From: a@example.net\r\nTo: b@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\nMessage-ID: <m1@example.net>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=x.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC/w==\r\n--b--\r\n";
        let mut message = InboundMessage::from_mime(
            crate::Provider::Postmark,
            raw,
            &super::super::InboundLimits::default(),
        )
        .unwrap();
        message.event_id = Some("id-1".into());
        message.envelope_recipient = Some("b@example.com".into());
        message.envelope_recipients = vec!["b@example.com".into(), "c@example.com".into()];
        message.spam_score = Some(1.5);
        message.stripped_text = Some("hi".into());
        message.timestamp = Some(time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap());
        let job = NewJob::for_inbound(&message, usize::MAX).unwrap();
        assert_eq!(job.key, message.idempotency_key());
        let back = decode_inbound(&job.payload).unwrap();
        assert_eq!(back, message);
        assert_eq!(back.attachments[0].content, [0, 1, 2, 255]);
        assert_eq!(back.subject.as_deref(), Some("café"));
    }

    #[test]
    fn an_unreadable_message_survives_the_queue() {
        let why = crate::ParseError::new("an element is not JSON");
        let message =
            InboundMessage::from_unreadable(crate::Provider::Postmark, &why, r#"{"a":1}"#);
        let job = NewJob::for_inbound(&message, usize::MAX).unwrap();
        let back = decode_inbound(&job.payload).unwrap();
        assert_eq!(back, message);
        assert_eq!(back.unreadable.as_deref(), Some(why.to_string().as_str()));
        assert_eq!(back.raw.as_deref(), Some(&br#"{"a":1}"#[..]));
    }

    #[test]
    fn over_the_bound_is_refused_not_truncated() {
        let mut message = InboundMessage::new(crate::Provider::Postmark);
        message.text = Some("x".repeat(1000));
        let encoded = encode_inbound(&message).unwrap().len();
        let error = NewJob::for_inbound(&message, encoded - 1).unwrap_err();
        assert!(
            matches!(error, StoreError::TooLarge { bytes, limit } if bytes == encoded && limit == encoded - 1)
        );
        assert!(NewJob::for_inbound(&message, encoded).is_ok());
    }

    #[test]
    fn other_payloads_are_undecodable() {
        for payload in [
            "",
            "{}",
            r#"{"v":2}"#,
            "[1]",
            r#"{"v":1,"provider":"nope"}"#,
        ] {
            assert!(decode_inbound(payload).is_err(), "{payload}");
        }
    }
}
