//! Received mail: one [`InboundMessage`] per message a provider received
//! for your domains and posted to you (inbound, "parse" or "route"
//! webhooks), whatever the provider's shape.
//!
//! A provider that posts parsed fields (Postmark's JSON) maps them onto the
//! model; one that posts the raw message has it parsed by
//! [`InboundMessage::from_mime`], on [`mail_parser`] (Stalwart's MIME
//! parser: zero-copy, RFC 5322 and MIME complete with encoded words and
//! legacy charsets, fuzzed upstream; chosen over a hand-written parser, and
//! over `mailparse`, for its completeness and its bounded nesting).
//!
//! Inbound bodies are large and hostile: every size and count is bounded
//! by [`InboundLimits`]. The body size is checked before anything is
//! parsed, and a form without its closing boundary is refused at once;
//! so is a message of more lines than [`InboundLimits::max_lines`], and
//! one whose parts declare so many boundaries that never come that the
//! parser's searches for them would cost more than a few times its size:
//! together they bound the parser's work. The counts of parts, headers and attachments
//! and the decoded size are checked once the parser has read the message,
//! each attachment as it is copied out (none is larger than the body).
//!
//! The provider modules own their inbound shapes (each provider's
//! `parse_inbound`, and its entry in the registry,
//! [`ProviderInfo::inbound`](crate::provider::ProviderInfo::inbound)).
//! [`InboundProviders`] puts the ones you receive together, with their
//! credentials and a [`ContentSource`] for what providers post only a
//! reference to; the adapters serve it at `POST /webhooks/{provider}/inbound`
//! (`adapters::axum::inbound_router`, `adapters::actix::inbound_resource`,
//! and their handoff forms, whose queue a `Worker`'s `run_inbound` reads).
//! Each message is processed once under
//! [`InboundMessage::idempotency_key`].

use std::borrow::Cow;
use std::fmt;

use serde::{Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::error::ParseError;
use crate::event::Provider;

mod boundaries;
pub(crate) mod fetch;
mod receive;
mod stored;

pub use fetch::{ContentKind, ContentRef, ContentSource, FetchError, StaticContent};
pub use receive::{InboundOutcome, InboundProviders};
pub use stored::{decode_inbound, encode_inbound};

/// Bounds on one inbound delivery, each checked before the work it bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundLimits {
    /// The largest delivery body, in bytes (default 64 MiB: providers
    /// accept messages up to 25-40 MB, and a JSON or form encoding adds a
    /// third for base64; Postmark takes 35 MB of attachments, which it
    /// posts as about 47 MB of JSON. Postmark's `RawEmail` option sends the
    /// message twice: raise this for large messages with it on).
    pub max_body_bytes: usize,
    /// The most MIME parts in one message (default 1,000).
    pub max_parts: usize,
    /// The most header fields in one message (default 1,000).
    pub max_headers: usize,
    /// The most attachments in one message (default 250).
    pub max_attachments: usize,
    /// The most decoded attachment bytes in one message, all attachments
    /// together (default 40 MiB).
    pub max_decoded_bytes: usize,
    /// The most lines in one message or form, counted before the MIME
    /// parser reads it (default 1,000,000: a 64 MiB message of base64 has
    /// about 880,000). This bounds its work on a message of tiny lines (a
    /// header bomb) before it starts; its searches for multipart
    /// boundaries are bounded apart, to a few times the message's size
    /// (parts declaring boundaries that never come are refused).
    pub max_lines: usize,
    /// The largest message a queue takes in handoff, encoded (default 192
    /// MiB: a message of 64 MiB is stored with its raw copy and its
    /// attachments, up to 40 MiB decoded, both in base64, about 139 MiB,
    /// with room for ordinary bodies and headers; the decoded text and
    /// HTML are stored too, JSON-escaped, so a large body of control
    /// characters or invalid UTF-8 can still be over it). Above it the
    /// delivery is answered 503 with
    /// `job_too_large`: the provider keeps the message and retries, it is
    /// never accepted and dropped. Raise it with the engine's own limit in
    /// mind (PostgreSQL `text` takes 1 GiB, a Redis string 512 MiB, SQLite
    /// 1 GB by default).
    pub max_queued_bytes: usize,
}

impl Default for InboundLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 << 20,
            max_parts: 1_000,
            max_headers: 1_000,
            max_attachments: 250,
            max_decoded_bytes: 40 << 20,
            max_lines: 1_000_000,
            max_queued_bytes: 192 << 20,
        }
    }
}

impl InboundLimits {
    /// Sets the largest delivery body.
    #[must_use]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Sets the most attachments per message.
    #[must_use]
    pub fn with_max_attachments(mut self, count: usize) -> Self {
        self.max_attachments = count;
        self
    }

    /// Sets the most decoded attachment bytes per message.
    #[must_use]
    pub fn with_max_decoded_bytes(mut self, bytes: usize) -> Self {
        self.max_decoded_bytes = bytes;
        self
    }

    /// Sets the largest message a queue takes.
    #[must_use]
    pub fn with_max_queued_bytes(mut self, bytes: usize) -> Self {
        self.max_queued_bytes = bytes;
        self
    }

    /// Refuses a message with more header fields than
    /// [`max_headers`](Self::max_headers), before they are read.
    pub(crate) fn check_headers(&self, count: usize) -> Result<(), ParseError> {
        if count > self.max_headers {
            return Err(ParseError::new(
                "the message has more header fields than the limit",
            ));
        }
        Ok(())
    }

    /// Refuses a message with more attachments than
    /// [`max_attachments`](Self::max_attachments), before they are read.
    pub(crate) fn check_attachments(&self, count: usize) -> Result<(), ParseError> {
        if count > self.max_attachments {
            return Err(ParseError::new(
                "the message has more attachments than the limit",
            ));
        }
        Ok(())
    }

    /// Refuses a body over [`max_body_bytes`](Self::max_body_bytes).
    pub(crate) fn check_body(&self, body: &[u8]) -> Result<(), ParseError> {
        if body.len() > self.max_body_bytes {
            return Err(ParseError::new(
                "the inbound delivery is over the size limit",
            ));
        }
        Ok(())
    }

    /// Refuses MIME over the size or line limit, or whose parsing would
    /// cost too much ([`boundaries::check`]), before it is parsed.
    pub(crate) fn check_mime(&self, raw: &[u8]) -> Result<(), ParseError> {
        self.check_size_and_lines(raw)?;
        boundaries::check(raw, self.max_parts)
    }

    /// Refuses a body over the size or line limit.
    fn check_size_and_lines(&self, raw: &[u8]) -> Result<(), ParseError> {
        self.check_body(raw)?;
        // One linear pass per message: not worth a dependency (bytecount).
        #[allow(clippy::naive_bytecount)]
        let lines = raw.iter().filter(|&&b| b == b'\n').count();
        if lines > self.max_lines {
            return Err(ParseError::new("the message has more lines than the limit"));
        }
        Ok(())
    }
}

/// A mailbox: its address and display name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Address {
    /// The address (`local@domain`), when the header has one.
    pub address: Option<String>,
    /// The display name, decoded.
    pub name: Option<String>,
}

impl Address {
    /// A mailbox of `address` and `name`; empty strings are absent.
    #[must_use]
    pub fn new(address: Option<&str>, name: Option<&str>) -> Self {
        let present = |s: Option<&str>| {
            s.map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Self {
            address: present(address),
            name: present(name),
        }
    }
}

/// One attachment, decoded.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Attachment {
    /// The filename as the sender gave it, decoded: **untrusted** (it may
    /// hold path separators or `..`); see [`safe_filename`](Self::safe_filename).
    pub filename: Option<String>,
    /// The MIME type (`image/png`).
    pub content_type: Option<String>,
    /// The decoded size in bytes.
    pub size: usize,
    /// The `Content-ID`, without angle brackets (inline images).
    pub content_id: Option<String>,
    /// Whether it is shown inline rather than attached.
    pub inline: bool,
    /// The decoded bytes (not serialized).
    #[serde(skip)]
    pub content: Vec<u8>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .field("content_id", &self.content_id)
            .field("inline", &self.inline)
            .finish_non_exhaustive()
    }
}

impl Attachment {
    /// The filename's last path component made safe to join to a directory
    /// of yours on any system, or `None` when nothing usable is left: no
    /// control or invisible formatting characters (bidirectional overrides
    /// that make `exe.pdf` of `fdp.exe`), no `:` (drive prefixes, alternate
    /// data streams), no leading or trailing dots and spaces, not a Windows
    /// device name (`CON`, `NUL.txt`), at most 255 bytes.
    #[must_use]
    pub fn safe_filename(&self) -> Option<String> {
        let name = self.filename.as_deref()?;
        let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
        let invisible = |c: char| {
            c.is_control()
                || matches!(c, '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
        };
        let cleaned: String = last
            .chars()
            .filter(|&c| !invisible(c))
            .map(|c| {
                if matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let cleaned = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
        let stem = cleaned
            .split('.')
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_ascii_uppercase();
        let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
            || ((stem.starts_with("COM") || stem.starts_with("LPT"))
                && stem.len() == 4
                && stem.as_bytes()[3].is_ascii_digit());
        let mut safe = if reserved {
            format!("_{cleaned}")
        } else {
            cleaned.to_owned()
        };
        if safe.len() > 255 {
            let mut end = 255;
            while !safe.is_char_boundary(end) {
                end -= 1;
            }
            safe.truncate(end);
        }
        (!safe.is_empty()).then_some(safe)
    }
}

/// A message a provider received for you, normalized.
///
/// Serialized with the field names of the CLI's `--inbound` output;
/// `headers` as `[name, value]` pairs in order, attachments without their
/// bytes, the raw message not at all.
#[derive(Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct InboundMessage {
    /// The provider that posted it.
    pub provider: Provider,
    /// The provider's id for this delivery or message, where it sends one.
    pub event_id: Option<String>,
    /// When the provider received it, where it says.
    #[serde(serialize_with = "rfc3339")]
    pub timestamp: Option<OffsetDateTime>,
    /// The SMTP envelope sender (`MAIL FROM`), where the provider sends it.
    pub envelope_sender: Option<String>,
    /// The SMTP envelope recipient (`RCPT TO`) this delivery is for: the
    /// first of [`envelope_recipients`](Self::envelope_recipients).
    pub envelope_recipient: Option<String>,
    /// Every SMTP envelope recipient (`RCPT TO`) of yours this delivery is
    /// for. Some providers (SES and SendGrid among them) post one message
    /// once for all the addresses it was sent to in one transaction: route
    /// it to each.
    pub envelope_recipients: Vec<String>,
    /// `From`.
    pub from: Option<Address>,
    /// `To`.
    pub to: Vec<Address>,
    /// `Cc`.
    pub cc: Vec<Address>,
    /// `Subject`, decoded.
    pub subject: Option<String>,
    /// `Date`.
    #[serde(serialize_with = "rfc3339")]
    pub date: Option<OffsetDateTime>,
    /// `Message-ID`, without angle brackets.
    pub message_id: Option<String>,
    /// The plain-text body.
    pub text: Option<String>,
    /// The HTML body.
    pub html: Option<String>,
    /// The reply without its quoted part, where the provider strips it.
    pub stripped_text: Option<String>,
    /// The provider's or the receiving server's spam verdict.
    pub spam_detected: Option<bool>,
    /// The spam score (SpamAssassin's scale where the provider says).
    pub spam_score: Option<f64>,
    /// Every header field, in order, values as sent (unfolded, not decoded).
    pub headers: Vec<(String, String)>,
    /// The attachments, inline ones included.
    pub attachments: Vec<Attachment>,
    /// The whole message as received, where the provider sends it.
    #[serde(skip)]
    pub raw: Option<Vec<u8>>,
    /// A value the provider signed for this delivery alone, to claim once
    /// before handling the message, where the provider's signature does not
    /// cover the message (Mailgun signs a timestamp and a token): a second
    /// delivery carrying it is a replay, whatever its content. Claim it in
    /// an [`IdempotencyStore`](crate::idempotency::IdempotencyStore) and
    /// refuse the delivery when it was claimed before; `None` where the
    /// signature covers the message or nothing is signed.
    #[serde(skip)]
    pub replay_token: Option<String>,
    /// Why this message could not be read, when it came in a batch (the
    /// providers that post several messages in one delivery): its
    /// element is in [`raw`](Self::raw) as the provider sent it (JSON) and
    /// no other field is read. The other messages of the delivery are read
    /// as usual, and the delivery is acknowledged: sending it again would
    /// not make the element readable, and the provider would send the good
    /// messages again with it. Also, in
    /// [`InboundProviders::run`](crate::inbound::InboundProviders::run) and
    /// [`hand_off`](crate::inbound::InboundProviders::hand_off), a message whose
    /// referenced content can never be read (over a limit, not what the
    /// provider serves): then the fields its delivery gave are kept.
    /// `None` for a message that was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// Content still to fetch: [`pending`](Self::pending).
    #[serde(skip)]
    pending: Vec<fetch::Pending>,
}

impl fmt::Debug for InboundMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Addresses and content are personal data: ids and sizes only.
        f.debug_struct("InboundMessage")
            .field("provider", &self.provider)
            .field("event_id", &self.event_id)
            .field("message_id", &self.message_id)
            .field("headers", &self.headers.len())
            .field("attachments", &self.attachments.len())
            .field("raw_len", &self.raw.as_ref().map(Vec::len))
            .field("unreadable", &self.unreadable)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

#[allow(clippy::ref_option)] // serde's `serialize_with` passes `&Option<T>`.
fn rfc3339<S: Serializer>(
    value: &Option<OffsetDateTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let text = value.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    });
    text.serialize(serializer)
}

impl InboundMessage {
    /// An empty message from `provider`, to fill in.
    #[must_use]
    pub fn new(provider: Provider) -> Self {
        Self {
            provider,
            event_id: None,
            timestamp: None,
            envelope_sender: None,
            envelope_recipient: None,
            envelope_recipients: Vec::new(),
            from: None,
            to: Vec::new(),
            cc: Vec::new(),
            subject: None,
            date: None,
            message_id: None,
            text: None,
            html: None,
            stripped_text: None,
            spam_detected: None,
            spam_score: None,
            headers: Vec::new(),
            attachments: Vec::new(),
            raw: None,
            replay_token: None,
            unreadable: None,
            pending: Vec::new(),
        }
    }

    /// A message of a batch that could not be read: `element`, the
    /// provider's JSON for it, kept in [`raw`](Self::raw), and why.
    pub(crate) fn from_unreadable(
        provider: Provider,
        why: &crate::ParseError,
        element: &str,
    ) -> Self {
        let mut message = Self::new(provider);
        message.unreadable = Some(why.to_string());
        message.raw = Some(element.as_bytes().to_vec());
        message
    }

    /// Marks a message whose referenced content can never be read
    /// unreadable, with why and the references it could not read.
    pub(crate) fn mark_unreadable(&mut self, why: &fetch::FetchError) {
        let mut text = format!("its content could not be read: {why}");
        // What was not read, so that it can be fetched by hand.
        for (i, pending) in self.pending.drain(..).enumerate() {
            text.push_str(if i == 0 { "; not read: " } else { ", " });
            text.push_str(&pending.content.url);
        }
        self.unreadable = Some(text);
    }

    /// The key to process this message once: `{provider}:inbound:id:{id}`
    /// with the id the provider gave the message where it gives one
    /// (followed by `:for:` and a digest of the
    /// [`envelope_recipients`](Self::envelope_recipients) where there are
    /// any), else `{provider}:inbound:sha256:…`, a digest of the whole
    /// message as posted (headers in order, envelope, bodies, attachments;
    /// or the raw message). Stable across the provider's redeliveries,
    /// which post the same message again.
    ///
    /// One message delivered to two groups of your addresses is two
    /// deliveries: SES posts a message once per receipt rule that matches
    /// some of its recipients, each notification listing that rule's, all
    /// under one message id.
    ///
    /// Never the `Message-ID` alone: whoever sends you mail chooses it, and
    /// a message of theirs carrying another message's id must not make that
    /// message a duplicate.
    #[must_use]
    pub fn idempotency_key(&self) -> String {
        let mut hash = Sha256::new();
        // Each section tagged and counted, so that no two messages hash
        // alike by moving fields between sections.
        let mut field = |bytes: &[u8]| {
            // Length-prefixed, so that no two messages hash alike by moving
            // bytes from one field to the next.
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        // The envelope recipients in any order: sorted.
        let mut recipients: Vec<&str> = self
            .envelope_recipients
            .iter()
            .map(String::as_str)
            .collect();
        recipients.sort_unstable();
        if let Some(id) = self.event_id.as_deref().filter(|id| !id.is_empty()) {
            if recipients.is_empty() {
                return format!("{}:inbound:id:{id}", self.provider);
            }
            for recipient in &recipients {
                field(recipient.as_bytes());
            }
            let digest = hash.finalize();
            return format!(
                "{}:inbound:id:{id}:for:{}",
                self.provider,
                crate::encoding::hex(&digest[..8])
            );
        }
        if let Some(raw) = &self.raw {
            field(if self.unreadable.is_some() {
                b"unreadable"
            } else {
                b"raw"
            });
            field(raw);
        } else {
            field(b"headers");
            field(&(self.headers.len() as u64).to_be_bytes());
            for (name, value) in &self.headers {
                field(name.as_bytes());
                field(value.as_bytes());
            }
            for part in [&self.envelope_sender, &self.subject, &self.text, &self.html] {
                field(part.as_deref().unwrap_or_default().as_bytes());
            }
            if self.headers.is_empty() {
                // No headers posted (providers that post only fields): the
                // addresses, id and date they would carry,
                // so that two short replies alike in text from two senders
                // are two messages.
                field(b"addresses");
                let lists = [self.from.as_slice(), &self.to, &self.cc];
                for list in lists {
                    field(&(list.len() as u64).to_be_bytes());
                    for a in list {
                        field(a.address.as_deref().unwrap_or_default().as_bytes());
                    }
                }
                field(self.message_id.as_deref().unwrap_or_default().as_bytes());
                let date = self.date.map_or(0, OffsetDateTime::unix_timestamp);
                field(&date.to_be_bytes());
            }
            field(b"attachments");
            field(&(self.attachments.len() as u64).to_be_bytes());
            for attachment in &self.attachments {
                field(
                    attachment
                        .filename
                        .as_deref()
                        .unwrap_or_default()
                        .as_bytes(),
                );
                field(&attachment.content);
            }
        }
        // One message delivered to two of your addresses is two deliveries;
        // one posted for several at once is told apart by all of them (a
        // single recipient hashes as it always has).
        if recipients.len() > 1 {
            field(b"recipients");
            field(&(recipients.len() as u64).to_be_bytes());
            for recipient in &recipients {
                field(recipient.as_bytes());
            }
        } else {
            field(
                self.envelope_recipient
                    .as_deref()
                    .unwrap_or_default()
                    .as_bytes(),
            );
        }
        let digest = hash.finalize();
        format!(
            "{}:inbound:sha256:{}",
            self.provider,
            crate::encoding::hex(&digest[..16])
        )
    }

    /// The first value of header `name` (any case).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Fills the spam verdict and score from SpamAssassin's `X-Spam-Status`
    /// (`Yes, score=5.2 …`), `X-Spam-Flag` and `X-Spam-Score` headers, where
    /// the provider gave none of its own. Only for providers that add these
    /// headers themselves (Postmark): elsewhere the sender wrote them.
    pub(crate) fn spam_from_headers(&mut self) {
        if self.spam_detected.is_none() {
            self.spam_detected = self
                .header("X-Spam-Status")
                .or_else(|| self.header("X-Spam-Flag"))
                .and_then(|v| {
                    let word = v
                        .trim_start()
                        .split([',', ' ', ';'])
                        .next()
                        .unwrap_or_default();
                    match word.to_ascii_lowercase().as_str() {
                        "yes" | "true" => Some(true),
                        "no" | "false" => Some(false),
                        _ => None,
                    }
                });
        }
        if self.spam_score.is_none() {
            let from_status = self.header("X-Spam-Status").and_then(|v| {
                let at = v.find("score=")? + "score=".len();
                let number: String = v[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | '-'))
                    .collect();
                number.parse().ok()
            });
            self.spam_score = from_status
                .or_else(|| {
                    self.header("X-Spam-Score")
                        .and_then(|v| v.trim().parse().ok())
                })
                .filter(|s: &f64| s.is_finite());
        }
    }

    /// Sets the envelope recipients: `recipients` in order, the first as
    /// [`envelope_recipient`](Self::envelope_recipient).
    pub(crate) fn set_envelope_recipients(&mut self, recipients: impl IntoIterator<Item = String>) {
        self.envelope_recipients = recipients.into_iter().collect();
        self.envelope_recipient = self.envelope_recipients.first().cloned();
    }

    /// Parses a raw RFC 5322 message into the model, within `limits`: the
    /// headers in order, `From`/`To`/`Cc`/`Subject`/`Date`/`Message-ID`
    /// decoded, the first text and HTML bodies, and every attachment
    /// decoded (nested `message/rfc822` parts are attachments too). Keeps
    /// `raw`. Envelope fields and ids are the provider's to fill.
    ///
    /// # Errors
    ///
    /// [`ParseError`] when the message is over a limit or not a message.
    pub fn from_mime(
        provider: Provider,
        raw: &[u8],
        limits: &InboundLimits,
    ) -> Result<Self, ParseError> {
        limits.check_mime(raw)?;
        let parsed = parse_checked(raw)
            .ok_or_else(|| ParseError::new("the message is not RFC 5322 mail"))?;
        if parsed.parts.len() > limits.max_parts {
            return Err(ParseError::new(
                "the message has more MIME parts than the limit",
            ));
        }
        let mut message = Self::new(provider);
        message.fill_from(&parsed, raw, limits)?;
        message.raw = Some(raw.to_vec());
        Ok(message)
    }

    /// [`from_mime`](Self::from_mime) keeping `raw` without a copy.
    pub(crate) fn from_mime_owned(
        provider: Provider,
        raw: Vec<u8>,
        limits: &InboundLimits,
    ) -> Result<Self, ParseError> {
        limits.check_mime(&raw)?;
        let mut message = Self::new(provider);
        {
            let parsed = parse_checked(&raw)
                .ok_or_else(|| ParseError::new("the message is not RFC 5322 mail"))?;
            if parsed.parts.len() > limits.max_parts {
                return Err(ParseError::new(
                    "the message has more MIME parts than the limit",
                ));
            }
            message.fill_from(&parsed, &raw, limits)?;
        }
        message.raw = Some(raw);
        Ok(message)
    }

    /// Fills the headers, addresses, subject, date and `Message-ID` from a
    /// header block alone (a provider that posts the headers as one field
    /// and the bodies apart).
    pub(crate) fn fill_headers(
        &mut self,
        block: &str,
        limits: &InboundLimits,
    ) -> Result<(), ParseError> {
        let mut raw = block
            .trim_end_matches(['\r', '\n'])
            .replace("\r\n", "\n")
            .replace('\n', "\r\n");
        raw.push_str("\r\n\r\n");
        limits.check_body(raw.as_bytes())?;
        let Some(parsed) = parse_mime(raw.as_bytes(), limits.max_parts) else {
            return Ok(());
        };
        let (text, html, attachments) = (
            self.text.take(),
            self.html.take(),
            std::mem::take(&mut self.attachments),
        );
        self.fill_from(&parsed, raw.as_bytes(), limits)?;
        (self.text, self.html, self.attachments) = (text, html, attachments);
        Ok(())
    }

    /// Fills what the parsed message says (headers, addresses, bodies,
    /// attachments).
    fn fill_from(
        &mut self,
        parsed: &mail_parser::Message<'_>,
        raw: &[u8],
        limits: &InboundLimits,
    ) -> Result<(), ParseError> {
        use mail_parser::MimeHeaders as _;
        let headers = parsed.headers();
        limits.check_headers(headers.len())?;
        self.headers = headers
            .iter()
            .map(|h| {
                let value = raw
                    .get(h.offset_start as usize..h.offset_end as usize)
                    .map_or(Cow::Borrowed(""), String::from_utf8_lossy);
                (h.name.as_str().to_owned(), unfold(&value))
            })
            .collect();
        let addresses = |a: Option<&mail_parser::Address<'_>>| -> Vec<Address> {
            a.map(|a| {
                a.iter()
                    .map(|m| Address::new(m.address.as_deref(), m.name.as_deref()))
                    .collect()
            })
            .unwrap_or_default()
        };
        self.from = addresses(parsed.from()).into_iter().next();
        self.to = addresses(parsed.to());
        self.cc = addresses(parsed.cc());
        self.subject = parsed.subject().map(str::to_owned);
        self.date = parsed
            .date()
            .and_then(|d| OffsetDateTime::from_unix_timestamp(d.to_timestamp()).ok());
        self.message_id = parsed.message_id().map(str::to_owned);
        // The bodies the message has, never one converted from the other
        // (`body_text`/`body_html` convert when a kind is missing). A body
        // in several parts (text, an inline image, more text: as Apple Mail
        // sends a file placed mid-message) is every part of its kind in
        // order, joined by a line break; such parts are in no attachment.
        let body = |ids: &[u32], html: bool| {
            let parts: Vec<&str> = ids
                .iter()
                .filter_map(|&id| match &parsed.parts.get(id as usize)?.body {
                    mail_parser::PartType::Html(text) if html => Some(text.as_ref()),
                    mail_parser::PartType::Text(text) if !html => Some(text.as_ref()),
                    _ => None,
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("\n"))
        };
        self.text = body(&parsed.text_body, false);
        self.html = body(&parsed.html_body, true);
        limits.check_attachments(parsed.attachment_count())?;
        let mut decoded = 0usize;
        for part in parsed.attachments() {
            let content = part_bytes(raw, part);
            decoded = decoded.saturating_add(content.len());
            if decoded > limits.max_decoded_bytes {
                return Err(ParseError::new(
                    "the attachments are over the decoded size limit",
                ));
            }
            let content_type = part.content_type().map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{sub}", ct.ctype()),
                None => ct.ctype().to_owned(),
            });
            let inline = part
                .content_disposition()
                .is_some_and(mail_parser::ContentType::is_inline);
            self.attachments.push(Attachment {
                filename: part.attachment_name().map(str::to_owned),
                content_type,
                size: content.len(),
                content_id: part
                    .content_id()
                    .map(|id| id.trim_matches(['<', '>']).to_owned()),
                inline,
                content,
            });
        }
        Ok(())
    }
}

/// A part's content with its transfer encoding undone and nothing else.
/// mail-parser gives a `text/*` part as UTF-8 text (converted from its
/// charset, invalid bytes replaced), which would change an attached CSV
/// or calendar file: such a part is decoded here from its raw bytes.
fn part_bytes(raw: &[u8], part: &mail_parser::MessagePart<'_>) -> Vec<u8> {
    use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};
    use mail_parser::{Encoding, PartType};
    if !matches!(part.body, PartType::Text(_) | PartType::Html(_)) {
        return part.contents().to_vec();
    }
    let start = part.raw_body_offset() as usize;
    let end = (part.raw_end_offset() as usize).max(start);
    let body = raw.get(start..end).unwrap_or_default();
    match part.encoding {
        Encoding::Base64 => base64_decode(body),
        Encoding::QuotedPrintable => quoted_printable_decode(body),
        Encoding::None => Some(body.to_vec()),
    }
    .unwrap_or_else(|| part.contents().to_vec())
}

/// Whether a part's `Content-Disposition` names a `filename` parameter, even
/// an empty one (`filename=""`, which mail-parser does not keep): the part
/// is a file, not a text field.
fn declares_filename(raw: &[u8], part: &mail_parser::MessagePart<'_>) -> bool {
    let Some(header) = part
        .headers
        .iter()
        .find(|h| h.name == mail_parser::HeaderName::ContentDisposition)
    else {
        return false;
    };
    let value = raw
        .get(header.offset_start as usize..header.offset_end as usize)
        .unwrap_or_default();
    // The parameters, split at the `;`s outside quoted strings.
    let (mut quoted, mut escaped, mut at) = (false, false, 0);
    let mut keys = Vec::new();
    for (i, &b) in value.iter().enumerate() {
        match (quoted, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, _, b'"') => quoted = !quoted,
            (false, _, b';') => {
                keys.push(&value[at..i]);
                at = i + 1;
            }
            _ => {}
        }
    }
    keys.push(&value[at..]);
    keys.iter().skip(1).any(|param| {
        let key = param.split(|&b| b == b'=').next().unwrap_or_default();
        let key = key.trim_ascii();
        key.eq_ignore_ascii_case(b"filename") || key.eq_ignore_ascii_case(b"filename*")
    })
}

/// One field of a `multipart/form-data` body (RFC 7578).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct FormPart {
    /// The field name.
    pub(crate) name: String,
    /// The filename, for a file.
    pub(crate) filename: Option<String>,
    /// The part's MIME type, for a file.
    pub(crate) content_type: Option<String>,
    /// The content, decoded from any transfer encoding.
    pub(crate) content: Vec<u8>,
}

impl FormPart {
    /// The content as text (invalid UTF-8 replaced).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.content).into_owned()
    }

    /// The file as an attachment, shown inline when it has a `Content-ID`.
    pub(crate) fn attachment(&self, content_id: Option<String>) -> Attachment {
        Attachment {
            filename: self.filename.clone().filter(|name| !name.is_empty()),
            content_type: self.content_type.clone(),
            size: self.content.len(),
            inline: content_id.is_some(),
            content_id,
            content: self.content.clone(),
        }
    }

    /// The content as text in `charset` (UTF-8 when unknown or absent).
    pub(crate) fn text_in(&self, charset: Option<&str>) -> String {
        match charset.and_then(|c| {
            mail_parser::decoders::charsets::map::charset_decoder(c.trim().as_bytes())
        }) {
            Some(decode) => decode(&self.content),
            None => self.text(),
        }
    }
}

/// The fields of a `multipart/form-data` body, within `limits`: parsed as
/// the MIME multipart it is (by [`mail_parser`], under the request's
/// `Content-Type` with its boundary). Files count against the attachment
/// limits, every part against the part limit.
pub(crate) fn form_data(
    content_type: &str,
    body: &[u8],
    limits: &InboundLimits,
) -> Result<Vec<FormPart>, ParseError> {
    use mail_parser::MimeHeaders as _;
    // The body's size and lines; the cost of parsing it is checked below,
    // with the form's own boundary.
    limits.check_size_and_lines(body)?;
    let boundary = form_boundary(content_type)?;
    // A form cut short (no closing delimiter) would lose its last parts
    // silently: refused. The closing delimiter starts a line, and may be
    // followed by an epilogue (RFC 2046, section 5.1.1).
    let closing = format!("--{boundary}--");
    let closing = closing.as_bytes();
    let closed = body.starts_with(closing)
        || body
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && body[i + 1..].starts_with(closing));
    if boundary.is_empty() || !closed {
        return Err(ParseError::new(
            "the form is cut short: it has no closing boundary",
        ));
    }
    let mut message = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    message.extend_from_slice(body);
    // Again with the form's own boundary, which the body does not declare.
    boundaries::check(&message, limits.max_parts)?;
    let parsed =
        parse_checked(&message).ok_or_else(|| ParseError::new("the form is not MIME multipart"))?;
    if parsed.parts.len() > limits.max_parts {
        return Err(ParseError::new("the form has more parts than the limit"));
    }
    let (mut files, mut decoded) = (0usize, 0usize);
    let mut fields = Vec::new();
    for part in parsed.parts.iter().skip(1) {
        if matches!(part.body, mail_parser::PartType::Multipart(_)) {
            continue;
        }
        let Some(name) = part.content_disposition().and_then(|d| d.attribute("name")) else {
            continue;
        };
        // A file even with an empty filename (`filename=""`: a browser's
        // empty file input, or a sender's nameless attachment).
        let filename = part
            .attachment_name()
            .map(str::to_owned)
            .or_else(|| declares_filename(&message, part).then(String::new));
        // A field's bytes as sent (a provider may post a field in another
        // charset and say so elsewhere); a file's content with only its
        // transfer encoding undone.
        let content = if filename.is_none() {
            let start = part.raw_body_offset() as usize;
            let end = part.raw_end_offset() as usize;
            // The parser's end already stops before the line break that
            // belongs to the next delimiter: the field's own last line
            // break is content.
            message
                .get(start..end.max(start))
                .unwrap_or_default()
                .to_vec()
        } else {
            part_bytes(&message, part)
        };
        if filename.is_some() {
            files += 1;
            decoded = decoded.saturating_add(content.len());
            limits.check_attachments(files)?;
            if decoded > limits.max_decoded_bytes {
                return Err(ParseError::new(
                    "the attachments are over the decoded size limit",
                ));
            }
        }
        let content_type = part.content_type().map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{sub}", ct.ctype()),
            None => ct.ctype().to_owned(),
        });
        fields.push(FormPart {
            name: name.to_owned(),
            filename,
            content_type,
            content,
        });
    }
    if fields.is_empty() {
        return Err(ParseError::new("the form has no fields"));
    }
    Ok(fields)
}

/// The pairs of a URL-encoded form body, within `limits`.
fn url_encoded_pairs<'b>(
    body: &'b [u8],
    limits: &InboundLimits,
) -> Result<Vec<crate::form::Pair<'b>>, ParseError> {
    limits.check_body(body)?;
    crate::form::pairs(
        body,
        &crate::Limits::default().with_max_body_bytes(limits.max_body_bytes),
    )
    .map_err(|_| ParseError::new("the form has more fields than the limit"))
}

/// The boundary of a `multipart/form-data` content type (possibly empty).
fn form_boundary(content_type: &str) -> Result<&str, ParseError> {
    let lower = content_type.to_ascii_lowercase();
    if !lower.trim_start().starts_with("multipart/form-data") || !lower.contains("boundary=") {
        return Err(ParseError::new(
            "the body is not multipart/form-data with a boundary",
        ));
    }
    if content_type.contains(['\r', '\n']) {
        return Err(ParseError::new("the Content-Type header is malformed"));
    }
    Ok(content_type
        .split(';')
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"'))
        })
        .unwrap_or_default())
}

/// The text of the first field (not a file) named each of `names` in a
/// form body, URL-encoded or `multipart/form-data` as `content_type` says,
/// found by one pass that copies only those values (and each part's
/// `Content-Disposition`, up to a few KiB): a signature carried in the
/// form is checked before the form is parsed, so an unsigned request costs
/// little more than its own bytes. `None` for a name not found.
///
/// # Errors
///
/// When the body is not such a form, has more parts than
/// [`InboundLimits::max_parts`], or a wanted value is longer than
/// `max_value_bytes`.
pub(crate) fn scan_form_fields<const N: usize>(
    content_type: &str,
    body: &[u8],
    names: [&str; N],
    max_value_bytes: usize,
    limits: &InboundLimits,
) -> Result<[Option<String>; N], ParseError> {
    scan_fields(content_type, body, names, max_value_bytes, limits, false)
}

/// [`scan_form_fields`], keeping the last value of a name given more than
/// once where `last` (Mailgun's event webhooks: its own fields come after
/// the sender's variables of the same names).
pub(crate) fn scan_fields<const N: usize>(
    content_type: &str,
    body: &[u8],
    names: [&str; N],
    max_value_bytes: usize,
    limits: &InboundLimits,
    last: bool,
) -> Result<[Option<String>; N], ParseError> {
    let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
    let mut keep = |name: &[u8], value: &[u8], decode: bool| -> Result<(), ParseError> {
        let Some(i) = names.iter().position(|n| n.as_bytes() == name) else {
            return Ok(());
        };
        if found[i].is_some() && !last {
            return Ok(());
        }
        if value.len() > max_value_bytes {
            return Err(ParseError::new("a form field is over its length limit"));
        }
        found[i] = Some(if decode {
            crate::form::decode(value)
        } else {
            String::from_utf8_lossy(value).into_owned()
        });
        Ok(())
    };
    if crate::form::is_form(Some(content_type)) {
        for pair in &url_encoded_pairs(body, limits)? {
            // Names are compared decoded, as the full reading does.
            if let Some(name) = names.iter().find(|name| pair.is(name.as_bytes())) {
                keep(name.as_bytes(), pair.value, true)?;
            }
        }
        return Ok(found);
    }
    // A linear scan: no MIME parser, so no cost check.
    limits.check_size_and_lines(body)?;
    let delimiter = [b"--", form_boundary(content_type)?.as_bytes()].concat();
    if delimiter.len() == 2 {
        return Err(ParseError::new("the form has no boundary"));
    }
    // Delimiter lines start a line (RFC 2046, section 5.1.1); whatever
    // follows the delimiter on its line is passed over. The MIME parser
    // that reads the form afterwards is laxer (it finds a delimiter in
    // mid-line too): where the two readings differ, the fields the scan
    // found are not the parsed form's, and the caller refuses the form.
    let mut starts = (0..body.len())
        .filter(|&i| (i == 0 || body[i - 1] == b'\n') && body[i..].starts_with(&delimiter));
    let Some(mut at) = starts.next() else {
        return Err(ParseError::new("the form has no delimiter"));
    };
    let mut parts = 0usize;
    loop {
        let after = at + delimiter.len();
        if body[after..].starts_with(b"--") {
            return Ok(found);
        }
        let Some(next) = starts.next() else {
            // No closing delimiter: the form is cut short.
            return Err(ParseError::new("the form is cut short"));
        };
        parts += 1;
        // The form reading counts the form itself as a part too.
        if parts >= limits.max_parts {
            return Err(ParseError::new("the form has more parts than the limit"));
        }
        // The part: after the delimiter's line, up to the line break that
        // belongs to the next delimiter.
        let start = body[after..next]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(next, |i| after + i + 1);
        let mut end = next;
        if end > start && body[end - 1] == b'\n' {
            end -= 1;
            if end > start && body[end - 1] == b'\r' {
                end -= 1;
            }
        }
        if let Some((name, file, content)) = form_part(&body[start..end]) {
            if !file {
                keep(name.as_bytes(), content, false)?;
            }
        }
        at = next;
    }
}

/// The most bytes of a part's `Content-Disposition` (unfolded) that the
/// form scan keeps: a longer one names no field to it. What the scan
/// keeps of a form stays small whatever the form.
const MAX_DISPOSITION: usize = 4 * 1024;

/// One `multipart/form-data` part: its field name, whether it is a file
/// (its `Content-Disposition` has a `filename`), and its content; `None`
/// for a part with no name, a `Content-Disposition` over
/// [`MAX_DISPOSITION`], or no end to its headers. Only the first
/// `Content-Disposition` is kept; other headers are passed over.
fn form_part(part: &[u8]) -> Option<(String, bool, &[u8])> {
    let mut disposition: Option<Vec<u8>> = None;
    // Whether the header being read (with its folded lines) is it.
    let mut reading = false;
    let mut rest = part;
    let content = loop {
        let end = rest.iter().position(|&b| b == b'\n')?;
        let line = &rest[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        rest = &rest[end + 1..];
        if line.is_empty() {
            break rest;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // A folded header's continuation.
            if let (true, Some(value)) = (reading, disposition.as_mut()) {
                value.push(b' ');
                value.extend_from_slice(line.trim_ascii());
                if value.len() > MAX_DISPOSITION {
                    return None;
                }
            }
            continue;
        }
        reading = false;
        if disposition.is_none() {
            if let Some(value) = content_disposition(line) {
                if value.len() > MAX_DISPOSITION {
                    return None;
                }
                disposition = Some(value.to_vec());
                reading = true;
            }
        }
    };
    let (name, file) = disposition_name(&String::from_utf8_lossy(&disposition?))?;
    Some((name, file, content))
}

/// The value of a `Content-Disposition` header line, else `None`.
fn content_disposition(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    line[..colon]
        .trim_ascii()
        .eq_ignore_ascii_case(b"content-disposition")
        .then(|| line[colon + 1..].trim_ascii())
}

/// The `name` parameter of a `Content-Disposition` value and whether it
/// has a `filename` (or `filename*`); quoted values may hold `;` and
/// backslash-escaped characters.
fn disposition_name(value: &str) -> Option<(String, bool)> {
    let (mut name, mut file) = (None, false);
    let mut chars = value.chars().peekable();
    // The disposition type (`form-data`), then `; key=value` parameters.
    while chars.next_if(|&c| c != ';').is_some() {}
    while chars.next() == Some(';') {
        let key: String = std::iter::from_fn(|| chars.next_if(|&c| c != '=' && c != ';')).collect();
        let mut val = String::new();
        if chars.next_if_eq(&'=').is_some() {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => val.extend(chars.next()),
                        c => val.push(c),
                    }
                }
                while chars.next_if(|&c| c != ';').is_some() {}
            } else {
                val = std::iter::from_fn(|| chars.next_if(|&c| c != ';')).collect();
                val.truncate(val.trim_end().len());
            }
        }
        let key = key.trim();
        if key.eq_ignore_ascii_case("name") && name.is_none() {
            name = Some(val);
        } else if key.eq_ignore_ascii_case("filename") || key.eq_ignore_ascii_case("filename*") {
            file = true;
        }
    }
    Some((name?, file))
}

/// `raw` parsed by [`mail_parser`], or `None` when it is no message. A
/// panic inside the parser is `None` too: mail-parser 0.11 asserts its own
/// state with `debug_assert!`, which hostile input can trip in a debug
/// build (found by the `inbound` fuzz target); a receiver must answer such
/// a delivery, not crash on it.
///
/// A message whose boundary searches would cost more than a few times its
/// size, or that may hold more than `max_parts` parts, is `None` as well,
/// unparsed ([`boundaries::check`]). The callers that read whole messages
/// check first through [`InboundLimits::check_mime`], for its error, and
/// then call [`parse_checked`].
fn parse_mime(raw: &[u8], max_parts: usize) -> Option<mail_parser::Message<'_>> {
    boundaries::check(raw, max_parts).ok()?;
    parse_checked(raw)
}

/// [`parse_mime`] for bytes [`boundaries::check`] has just passed (through
/// [`InboundLimits::check_mime`]): not checked twice.
fn parse_checked(raw: &[u8]) -> Option<mail_parser::Message<'_>> {
    std::panic::catch_unwind(|| mail_parser::MessageParser::default().parse(raw))
        .ok()
        .flatten()
}

/// The fields of a form body, URL-encoded or `multipart/form-data`, as
/// `Content-Type` says: the same [`FormPart`]s either way (a URL-encoded
/// form has no files). Within `limits`, and [`crate::Limits::max_form_params`]
/// for a URL-encoded one.
pub(crate) fn form_fields(
    content_type: &str,
    body: &[u8],
    limits: &InboundLimits,
) -> Result<Vec<FormPart>, ParseError> {
    if crate::form::is_form(Some(content_type)) {
        return Ok(url_encoded_pairs(body, limits)?
            .iter()
            .map(|pair| FormPart {
                name: crate::form::decode(pair.name),
                filename: None,
                content_type: None,
                content: crate::form::decoded(pair.value).collect(),
            })
            .collect());
    }
    form_data(content_type, body, limits)
}

/// A `multipart/form-data` body of `fields` and then `files` (name,
/// filename, content type, content), for simulated deliveries.
pub(crate) fn multipart_form(
    boundary: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &str, &str, &[u8])],
) -> Vec<u8> {
    let mut form = Vec::new();
    for (name, value) in fields {
        form.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, filename, content_type, content) in files {
        form.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        form.extend_from_slice(content);
        form.extend_from_slice(b"\r\n");
    }
    form.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    form
}

/// The request's `Content-Type`, or empty.
pub(crate) fn request_content_type<'r>(request: &crate::Request<'r>) -> Cow<'r, str> {
    match request.headers().lookup("content-type") {
        crate::headers::Lookup::One(value) => String::from_utf8_lossy(value).into_owned().into(),
        _ => Cow::Borrowed(""),
    }
}

/// One message read by `parse` from the request's body as its
/// `Content-Type` header says it is encoded (a form, multipart or JSON).
pub(crate) fn typed_by_content_type(
    request: &crate::Request<'_>,
    limits: &InboundLimits,
    parse: fn(&str, &[u8], &InboundLimits) -> Result<InboundMessage, ParseError>,
) -> Result<Vec<InboundMessage>, ParseError> {
    Ok(vec![parse(
        &request_content_type(request),
        request.body(),
        limits,
    )?])
}

/// An RFC 5322 `Date` (as providers pass it on), or RFC 3339.
pub(crate) fn rfc5322_date(text: &str) -> Option<OffsetDateTime> {
    let parsed = mail_parser::DateTime::parse_rfc822(text.trim())
        .or_else(|| mail_parser::DateTime::parse_rfc3339(text.trim()))?;
    OffsetDateTime::from_unix_timestamp(parsed.to_timestamp()).ok()
}

/// An attachment's base64 content, decoded (line breaks allowed).
pub(crate) fn base64_content(text: &str) -> Result<Vec<u8>, ParseError> {
    use base64::Engine as _;
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| ParseError::new("an attachment's content is not base64"))
}

/// A header value unfolded (CRLF + whitespace is one space), trimmed.
fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut lines = value.split('\n');
    if let Some(first) = lines.next() {
        out.push_str(first.trim_end_matches('\r'));
    }
    for line in lines {
        let line = line.trim_end_matches('\r');
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line.trim_start());
        }
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    /// A field's own last line break is content (SendGrid's `email`, a
    /// raw message, ends with one); only the one before the delimiter is
    /// not. Regression: it was stripped, so a raw message lost it.
    #[test]
    fn form_fields_keep_their_own_last_line_break() {
        for eol in ["\r\n", "\n"] {
            let body = format!(
                "--B{eol}Content-Disposition: form-data; name=\"x\"{eol}{eol}abc{eol}{eol}--B{eol}Content-Disposition: form-data; name=\"y\"{eol}{eol}def{eol}--B--{eol}"
            );
            let fields = form_data(
                "multipart/form-data; boundary=B",
                body.as_bytes(),
                &InboundLimits::default(),
            )
            .unwrap();
            assert_eq!(fields[0].content, format!("abc{eol}").as_bytes());
            assert_eq!(fields[1].content, b"def");
        }
    }

    /// The scan that finds a form's signature fields before the form is
    /// parsed reads each field as the full reading does, over a class of
    /// spellings: both line ends, extra part headers, folded and reordered
    /// `Content-Disposition`, quoted and bare names, files named like
    /// fields, repeated fields (the first counts), delimiter-like text
    /// inside values, a preamble and an epilogue.
    #[test]
    fn the_form_scan_reads_fields_as_the_form_reading_does() {
        let names = ["timestamp", "token", "signature", "body-plain", "n;q"];
        let parts = |eol: &str| {
            vec![
                format!("Content-Disposition: form-data; name=\"timestamp\"{eol}{eol}1700000000"),
                format!(
                    "content-disposition: form-data; filename=\"t.txt\"; name=\"token\"{eol}Content-Type: text/plain{eol}{eol}from a file"
                ),
                format!(
                    "Content-Type: text/plain; charset=utf-8{eol}Content-Disposition: form-data;{eol}\tname=\"token\"{eol}{eol}tok en{eol}"
                ),
                format!("Content-Disposition: form-data; name=token{eol}{eol}second"),
                format!(
                    "Content-Disposition: form-data; name=\"signature\"{eol}{eol}{eol}abc{eol}--Bx not a delimiter{eol} --B{eol}"
                ),
                format!("Content-Disposition: form-data; name=\"body-plain\"{eol}{eol}"),
                format!("Content-Disposition: form-data; name=\"n;q\"{eol}{eol}quoted ; name"),
            ]
        };
        for eol in ["\r\n", "\n"] {
            for (preamble, epilogue) in [("", ""), ("preamble text", "epilogue --B")] {
                let all = parts(eol);
                for keep in 1..=all.len() {
                    let mut body = String::new();
                    if !preamble.is_empty() {
                        body = format!("{preamble}{eol}");
                    }
                    for part in &all[..keep] {
                        body += &["--B", eol, part, eol].concat();
                    }
                    body += &["--B--", eol, epilogue].concat();
                    let content_type = "multipart/form-data; boundary=B";
                    let limits = InboundLimits::default();
                    let fields = form_data(content_type, body.as_bytes(), &limits).unwrap();
                    let read = names.map(|name| {
                        fields
                            .iter()
                            .find(|f| f.name == name && f.filename.is_none())
                            .map(FormPart::text)
                    });
                    let scanned =
                        scan_form_fields(content_type, body.as_bytes(), names, 1000, &limits)
                            .unwrap();
                    assert_eq!(scanned, read, "{body:?}");
                }
            }
        }
        // URL-encoded: names compared decoded, values decoded.
        let body = b"a=1&time%73tamp=17&token=x+y%21&token=second";
        let scanned = scan_form_fields(
            "application/x-www-form-urlencoded",
            body,
            ["timestamp", "token", "signature"],
            1000,
            &InboundLimits::default(),
        )
        .unwrap();
        assert_eq!(
            scanned,
            [Some("17".to_owned()), Some("x y!".to_owned()), None]
        );
    }

    /// A message without the provider's id is keyed by its content and
    /// every envelope recipient it was posted for, in any order; one
    /// recipient hashes as the single field always did.
    #[test]
    fn a_content_key_digests_every_envelope_recipient() {
        let key = |recipients: &[&str]| {
            let mut m = InboundMessage::new(Provider::Sendgrid);
            m.subject = Some("Hello".to_owned());
            m.set_envelope_recipients(recipients.iter().map(|r| (*r).to_owned()));
            m.idempotency_key()
        };
        assert_ne!(key(&["a@x.org", "b@x.org"]), key(&["a@x.org", "c@x.org"]));
        assert_eq!(key(&["a@x.org", "b@x.org"]), key(&["b@x.org", "a@x.org"]));
        assert_ne!(key(&["a@x.org", "b@x.org"]), key(&["a@x.org"]));
        let mut single = InboundMessage::new(Provider::Sendgrid);
        single.subject = Some("Hello".to_owned());
        single.envelope_recipient = Some("a@x.org".to_owned());
        assert_eq!(key(&["a@x.org"]), single.idempotency_key());
    }

    /// The scan keeps only each part's `Content-Disposition`, up to
    /// `MAX_DISPOSITION`: other headers, however long or folded, are passed
    /// over, and a longer disposition names no field.
    #[test]
    fn the_form_scan_keeps_only_short_dispositions() {
        let limits = InboundLimits::default();
        let long = "x".repeat(MAX_DISPOSITION);
        let body = format!(
            "--B\r\nX-Long: {long}\r\n\t{long}\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nkept\r\n--B\r\nContent-Disposition: form-data; name=\"signature\"; x=\"{long}\"\r\n\r\ndropped\r\n--B--\r\n"
        );
        let scanned = scan_form_fields(
            "multipart/form-data; boundary=B",
            body.as_bytes(),
            ["token", "signature"],
            100,
            &limits,
        )
        .unwrap();
        assert_eq!(scanned, [Some("kept".to_owned()), None]);
    }

    /// The scan refuses what the reading refuses before it allocates: no
    /// closing delimiter, no boundary, a wanted value over its limit.
    #[test]
    fn the_form_scan_refuses_cut_short_and_oversized_forms() {
        let limits = InboundLimits::default();
        let scan = |content_type: &str, body: &str, max: usize| {
            scan_form_fields(content_type, body.as_bytes(), ["token"], max, &limits)
        };
        let field = "--B\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nabcdef\r\n";
        assert!(scan("multipart/form-data; boundary=B", field, 100).is_err());
        assert!(scan("multipart/form-data", &format!("{field}--B--"), 100).is_err());
        assert!(
            scan(
                "multipart/form-data; boundary=B",
                &format!("{field}--B--"),
                5
            )
            .is_err()
        );
        assert_eq!(
            scan(
                "multipart/form-data; boundary=B",
                &format!("{field}--B--"),
                6
            )
            .unwrap(),
            [Some("abcdef".to_owned())]
        );
        assert!(scan("application/x-www-form-urlencoded", "token=abcdef", 5).is_err());
    }

    use super::*;

    #[test]
    fn unfolding_joins_continuation_lines() {
        assert_eq!(unfold(" a\r\n\tb\r\n"), "a b");
        assert_eq!(unfold("x"), "x");
    }
}

/// The most elements of any one list in a provider's inbound JSON
/// (addresses, attachments, headers): past it the body is refused before
/// more is allocated. A body of `[{},{},…]` costs a parsed element far
/// more than its two bytes; this bounds that at a few MiB whatever the
/// body size. [`InboundLimits`] then bound what is kept.
pub(crate) const MAX_LIST: usize = 10_000;

/// The messages of a batch, each element read on its own by `read`: an
/// element it cannot read is an unreadable message keeping the element
/// ([`InboundMessage::unreadable`]), and its neighbours are read; an
/// element it skips (`Ok(None)`, not a message) gives none.
pub(crate) fn batch<'e>(
    provider: Provider,
    elements: impl IntoIterator<Item = &'e str>,
    read: impl Fn(&str) -> Result<Option<InboundMessage>, ParseError>,
) -> Vec<InboundMessage> {
    elements
        .into_iter()
        .filter_map(|element| match read(element) {
            Ok(message) => message,
            Err(why) => Some(InboundMessage::from_unreadable(provider, &why, element)),
        })
        .collect()
}

/// A JSON array read into memory at most [`MAX_LIST`] elements deep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Capped<T>(pub(crate) Vec<T>);

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Capped<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Seq<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Seq<T> {
            type Value = Capped<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an array of at most {MAX_LIST} elements")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(element) = seq.next_element()? {
                    if out.len() == MAX_LIST {
                        return Err(serde::de::Error::custom(format_args!(
                            "an array of more than {MAX_LIST} elements"
                        )));
                    }
                    out.push(element);
                }
                Ok(Capped(out))
            }
        }
        deserializer.deserialize_seq(Seq(std::marker::PhantomData))
    }
}

/// One attachment posted as base64 in JSON, decoded within `limits`
/// (`decoded` is the running total of the message's attachments).
pub(crate) fn json_attachment(
    filename: Option<&str>,
    content_type: Option<&str>,
    content_id: Option<&str>,
    inline: bool,
    base64: &str,
    decoded: &mut usize,
    limits: &InboundLimits,
) -> Result<Attachment, ParseError> {
    // Bounded before decoding: base64 decodes to at most 3/4 of its length.
    *decoded = decoded.saturating_add(base64.len() / 4 * 3);
    if *decoded > limits.max_decoded_bytes {
        return Err(ParseError::new(
            "the attachments are over the decoded size limit",
        ));
    }
    let content = base64_content(base64)?;
    let present = |s: Option<&str>| {
        s.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Ok(Attachment {
        filename: present(filename),
        content_type: present(content_type),
        size: content.len(),
        content_id: present(content_id.map(|id| id.trim().trim_matches(['<', '>']))),
        inline,
        content,
    })
}

/// A JSON object of header fields, each value one string or a list of
/// them (one per occurrence), read in the object's order into name and
/// value pairs, at most [`MAX_LIST`] in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JsonHeaders(pub(crate) Vec<(String, String)>);

impl JsonHeaders {
    /// The fields as one header block, each value on one line (a line
    /// break inside a value must not start a field of its own).
    pub(crate) fn block(&self) -> String {
        let mut block = String::new();
        for (name, value) in &self.0 {
            if name.is_empty() || name.contains([':', '\r', '\n']) {
                continue;
            }
            block.push_str(name);
            block.push_str(": ");
            block.push_str(&value.replace(['\r', '\n'], " "));
            block.push_str("\r\n");
        }
        block
    }
}

impl<'de> serde::Deserialize<'de> for JsonHeaders {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// One value or a list (not `#[serde(untagged)]`, which would
        /// buffer a list whole before the cap could refuse it).
        enum OneOrMany {
            One(String),
            Many(Capped<String>),
        }
        impl<'de> serde::Deserialize<'de> for OneOrMany {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Either;
                impl<'de> serde::de::Visitor<'de> for Either {
                    type Value = OneOrMany;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string or a list of strings")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                        Ok(OneOrMany::One(v.to_owned()))
                    }
                    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<OneOrMany, E> {
                        Ok(OneOrMany::One(v))
                    }
                    fn visit_unit<E: serde::de::Error>(self) -> Result<OneOrMany, E> {
                        Ok(OneOrMany::Many(Capped::default()))
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        seq: A,
                    ) -> Result<OneOrMany, A::Error> {
                        let many = serde::Deserialize::deserialize(
                            serde::de::value::SeqAccessDeserializer::new(seq),
                        )?;
                        Ok(OneOrMany::Many(many))
                    }
                }
                deserializer.deserialize_any(Either)
            }
        }
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = JsonHeaders;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of header fields")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, OneOrMany>()? {
                    let values = match value {
                        OneOrMany::One(one) => vec![one],
                        OneOrMany::Many(many) => many.0,
                    };
                    for value in values {
                        if out.len() == MAX_LIST {
                            return Err(serde::de::Error::custom(format_args!(
                                "more than {MAX_LIST} header fields"
                            )));
                        }
                        out.push((name.clone(), value));
                    }
                }
                Ok(JsonHeaders(out))
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

/// The filename, type and `Content-ID` a part's header fields give (as
/// the MIME parser reads them: RFC 2231 and encoded words included), and
/// whether its disposition is inline.
pub(crate) struct PartHeaders {
    pub(crate) filename: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) content_id: Option<String>,
    pub(crate) inline: bool,
}

/// Reads a part's header fields (`Content-Type`, `Content-Disposition`,
/// `Content-ID`) from `block`.
pub(crate) fn part_headers(block: &str) -> PartHeaders {
    use mail_parser::MimeHeaders as _;
    let mut raw = block.to_owned();
    raw.push_str("\r\n");
    let parsed = parse_mime(raw.as_bytes(), InboundLimits::default().max_parts);
    let part = parsed.as_ref().and_then(|m| m.parts.first());
    PartHeaders {
        filename: part.and_then(|p| p.attachment_name()).map(str::to_owned),
        content_type: part
            .and_then(|p| p.content_type())
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{sub}", ct.ctype()),
                None => ct.ctype().to_owned(),
            }),
        content_id: part
            .and_then(|p| p.content_id())
            .map(|id| id.trim_matches(['<', '>']).to_owned()),
        inline: part
            .and_then(|p| p.content_disposition())
            .is_some_and(mail_parser::ContentType::is_inline),
    }
}

/// The most JSON values (each scalar, array and object, nested ones
/// included) a provider's inbound JSON may hold, counted before it is
/// parsed into memory: a legitimate delivery holds a few thousand; a body
/// of `[{},{},…]` would cost a parsed value far more than its bytes.
pub(crate) const MAX_JSON_VALUES: usize = 100_000;

/// Refuses a JSON body over `limits` or of more than [`MAX_JSON_VALUES`]
/// values, before any of it is read into memory.
pub(crate) fn check_json_body(body: &[u8], limits: &InboundLimits) -> Result<(), ParseError> {
    limits.check_body(body)?;
    check_json_values(body)
}

/// Reads a JSON body checked by [`check_json_body`] as `T`; `not_it`
/// ("the body is not …") is the error's detail when it is not a `T`.
pub(crate) fn read_json<'a, T: serde::Deserialize<'a>>(
    body: &'a [u8],
    limits: &InboundLimits,
    not_it: &'static str,
) -> Result<T, ParseError> {
    check_json_body(body, limits)?;
    serde_json::from_slice(body).map_err(|e| ParseError::json(not_it, &e))
}

/// Refuses JSON of more than [`MAX_JSON_VALUES`] values, counted without
/// keeping any (serde's recursion limit bounds the nesting). Malformed
/// JSON passes: the parser that follows reports it.
pub(crate) fn check_json_values(json: &[u8]) -> Result<(), ParseError> {
    use std::cell::Cell;
    struct Counter<'a>(&'a Cell<usize>);
    impl Counter<'_> {
        fn bump<E: serde::de::Error>(&self) -> Result<(), E> {
            let n = self.0.get() + 1;
            self.0.set(n);
            if n > MAX_JSON_VALUES {
                return Err(E::custom("too many JSON values"));
            }
            Ok(())
        }
    }
    impl<'de> serde::de::DeserializeSeed<'de> for Counter<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> serde::de::Visitor<'de> for Counter<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
            self.bump()
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
            self.bump()
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
            self.bump()
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
            self.bump()
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
            self.bump()
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
            self.bump()
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            self.bump()?;
            while seq.next_element_seed(Counter(self.0))?.is_some() {}
            Ok(())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            self.bump()?;
            while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
                map.next_value_seed(Counter(self.0))?;
            }
            Ok(())
        }
    }
    let count = Cell::new(0);
    let mut de = serde_json::Deserializer::from_slice(json);
    match serde::de::DeserializeSeed::deserialize(Counter(&count), &mut de) {
        Err(_) if count.get() > MAX_JSON_VALUES => {
            Err(ParseError::new("the JSON holds more values than the limit"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod json_value_tests {
    use super::*;

    #[test]
    fn json_values_are_counted_before_they_are_parsed() {
        assert!(check_json_values(br#"{"a":[1,2,{"b":null}],"c":"d"}"#).is_ok());
        // Malformed JSON is the parser's to report.
        assert!(check_json_values(b"{not json").is_ok());
        let flood = format!("[{}0]", "{},".repeat(MAX_JSON_VALUES));
        assert!(check_json_values(flood.as_bytes()).is_err());
        let nested = format!(r#"{{"a":{{"b":[{}0]}}}}"#, "[],".repeat(MAX_JSON_VALUES));
        assert!(check_json_values(nested.as_bytes()).is_err());
        let just = format!("[{}0]", "0,".repeat(MAX_JSON_VALUES - 2));
        assert!(check_json_values(just.as_bytes()).is_ok());
    }
}
