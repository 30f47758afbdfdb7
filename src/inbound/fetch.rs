//! Content a provider serves by reference: an S3 object (SES receipt rules
//! with an S3 action), a received email's details, an attachment
//! by download token. The crate never opens a connection: it names
//! what it needs as a [`ContentRef`], and a [`ContentSource`] the caller
//! supplies fetches it, as the SNS certificate source does.
//!
//! A parsed message that still needs content lists it in
//! [`InboundMessage::pending`]; [`InboundMessage::fetch`] asks the source
//! for each, bounds what comes back, and fills the message in. A failure
//! to fetch is [`FetchError`]. On the routes (and in
//! [`InboundProviders::run`](super::InboundProviders::run) and
//! [`hand_off`](super::InboundProviders::hand_off)) one that may pass
//! ([`FetchError::Unavailable`]) is answered 503, so the provider keeps the
//! message and delivers it again; content that can never be read makes the
//! message [`unreadable`](InboundMessage::unreadable), never a 2xx for a
//! message that looks whole but is only half read.

use std::collections::HashMap;
use std::future::Future;

use crate::Provider;
use crate::error::ParseError;

use super::{InboundLimits, InboundMessage};

/// What a [`ContentRef`] points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentKind {
    /// The whole message, raw RFC 5322 (an S3 object).
    Message,
    /// The provider's description of the message, JSON (Resend's received
    /// email: bodies, headers, attachment list).
    Details,
    /// One attachment: its bytes, or the provider's description of where
    /// they are; the index is into [`InboundMessage::attachments`].
    Attachment(usize),
}

/// Content the provider serves by reference, for a [`ContentSource`] to
/// fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContentRef {
    /// The provider that posted the reference.
    pub provider: Provider,
    /// Where the content is: an `https://` URL of the provider's API, or
    /// `s3://bucket/key` for an S3 object. Built by the crate from the
    /// signed delivery, with the provider's host fixed where it has one.
    pub url: String,
    /// What it is.
    pub kind: ContentKind,
    /// The most bytes to accept: stop reading past it and return
    /// [`FetchError::TooLarge`].
    pub max_bytes: usize,
}

/// Why content could not be fetched. Every kind is answered 503, so the
/// provider keeps the message and delivers it again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The fetch failed (network, credentials, the provider's API
    /// answering an error). Code `content_unavailable`.
    #[error("the referenced content could not be fetched: {0}")]
    Unavailable(String),
    /// The content is over [`ContentRef::max_bytes`], or the fetches of
    /// one message over [`InboundLimits::max_decoded_bytes`] together.
    /// Code `content_too_large`.
    #[error("the referenced content is over the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// The content is not what the provider serves there. Code
    /// `content_invalid`.
    #[error("the referenced content is unreadable: {0}")]
    Invalid(ParseError),
}

impl FetchError {
    /// The stable code of this error.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "content_unavailable",
            Self::TooLarge { .. } => "content_too_large",
            Self::Invalid(_) => "content_invalid",
        }
    }
}

/// Where referenced content comes from. Implement it with your HTTP client
/// (and the provider's API key: the crate holds none) or your S3 client:
/// fetch `content.url`, stop past `content.max_bytes`. Send an API key only
/// to that provider's API host (the host of the `https://api.…` URL the crate builds): some
/// URLs are pre-signed download links on other hosts, which need none.
///
/// `examples/inbound_fetch.rs` implements it over `reqwest`.
pub trait ContentSource: Send + Sync {
    /// The bytes of `content`.
    fn fetch(
        &self,
        content: &ContentRef,
    ) -> impl Future<Output = Result<Vec<u8>, FetchError>> + Send;
}

/// A fixed set of contents by URL: for tests, the tour, and the CLI's
/// `--fetched URL=FILE`. An unknown URL is [`FetchError::Unavailable`].
#[derive(Debug, Clone, Default)]
pub struct StaticContent {
    contents: HashMap<String, Vec<u8>>,
}

impl StaticContent {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `bytes` for `url`.
    #[must_use]
    pub fn with(mut self, url: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        self.contents.insert(url.into(), bytes.into());
        self
    }
}

impl ContentSource for StaticContent {
    fn fetch(
        &self,
        content: &ContentRef,
    ) -> impl Future<Output = Result<Vec<u8>, FetchError>> + Send {
        let found = match self.contents.get(&content.url) {
            Some(bytes) if bytes.len() > content.max_bytes => Err(FetchError::TooLarge {
                limit: content.max_bytes,
            }),
            Some(bytes) => Ok(bytes.clone()),
            None => Err(FetchError::Unavailable(format!(
                "nothing is served for {}",
                content.url
            ))),
        };
        std::future::ready(found)
    }
}

/// How a provider's module reads fetched content into the message.
pub(crate) type Apply =
    fn(&mut InboundMessage, &ContentRef, Vec<u8>, &InboundLimits) -> Result<(), ParseError>;

/// Content a message still needs, and how it is read in.
#[derive(Clone)]
pub(crate) struct Pending {
    pub(crate) content: ContentRef,
    pub(crate) apply: Apply,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        // The reference says what is read; how is the provider's.
        self.content == other.content
    }
}

impl InboundMessage {
    /// Content the provider serves by reference that this message still
    /// needs (see [`fetch`](Self::fetch)); empty when the delivery carried
    /// everything.
    pub fn pending(&self) -> impl Iterator<Item = &ContentRef> {
        self.pending.iter().map(|p| &p.content)
    }

    /// Needs `content`, read in by `apply` once fetched.
    pub(crate) fn needs(&mut self, content: ContentRef, apply: Apply) {
        self.pending.push(Pending { content, apply });
    }

    /// Fetches every [`pending`](Self::pending) content from `source` and
    /// reads it into the message. Content read in may name more (Resend's
    /// details list the attachments): at most
    /// twice [`InboundLimits::max_attachments`] + 2 fetches, each within its
    /// [`ContentRef::max_bytes`] (checked again here, whatever the source
    /// does), and [`InboundLimits::max_decoded_bytes`] of attachments in
    /// all (the raw message and the provider's description of it are not
    /// attachments).
    ///
    /// # Errors
    ///
    /// [`FetchError`]: the source failed, the content is over a limit, or
    /// it is not what the provider serves. Answer the delivery 503
    /// ([`Error::Fetch`](crate::Error::Fetch) does), so the provider
    /// delivers the message again.
    pub async fn fetch<C: ContentSource + ?Sized>(
        &mut self,
        source: &C,
        limits: &InboundLimits,
    ) -> Result<(), FetchError> {
        let mut budget = limits.max_attachments.saturating_mul(2).saturating_add(2);
        let mut total = 0usize;
        while let Some(next) = self.pending.first().cloned() {
            budget = budget.checked_sub(1).ok_or(FetchError::TooLarge {
                limit: limits.max_decoded_bytes,
            })?;
            let bytes = source.fetch(&next.content).await?;
            if bytes.len() > next.content.max_bytes {
                return Err(FetchError::TooLarge {
                    limit: next.content.max_bytes,
                });
            }
            // Attachments count against the decoded limit together; the
            // message and the provider's description of it are bounded
            // each by its own `max_bytes` (the body limit), and are not
            // attachments (Resend's description holds the inline images
            // again, as `data:` URIs, and its raw message a third time).
            if matches!(next.content.kind, ContentKind::Attachment(_)) {
                total = total.saturating_add(bytes.len());
                if total > limits.max_decoded_bytes {
                    return Err(FetchError::TooLarge {
                        limit: limits.max_decoded_bytes,
                    });
                }
            }
            // Taken off the list only once it is read in: on a failure
            // the message still lists what it could not read.
            self.pending.remove(0);
            if let Err(why) = (next.apply)(self, &next.content, bytes, limits) {
                self.pending.insert(0, next);
                return Err(FetchError::Invalid(why));
            }
        }
        Ok(())
    }
}

/// Reads a fetched attachment's bytes into its place
/// ([`ContentKind::Attachment`]'s index).
pub(crate) fn read_attachment(
    message: &mut InboundMessage,
    content: &ContentRef,
    bytes: Vec<u8>,
    _limits: &InboundLimits,
) -> Result<(), ParseError> {
    let ContentKind::Attachment(index) = content.kind else {
        return Err(ParseError::new("not an attachment"));
    };
    let attachment = message
        .attachments
        .get_mut(index)
        .ok_or_else(|| ParseError::new("no such attachment"))?;
    attachment.size = bytes.len();
    attachment.content = bytes;
    Ok(())
}

/// Reads the whole message, fetched: what its MIME holds replaces what the
/// provider listed of it, while the provider's own facts stay (its id and
/// time, the envelope, its spam verdict, its single-use token, the reply
/// text it extracted, and the bodies it decoded where the MIME has none),
/// and so does what is still to fetch.
pub(crate) fn read_raw_message(
    message: &mut InboundMessage,
    _content: &ContentRef,
    bytes: Vec<u8>,
    limits: &InboundLimits,
) -> Result<(), ParseError> {
    let mut full = InboundMessage::from_mime_owned(message.provider, bytes, limits)?;
    full.event_id = message.event_id.take();
    full.timestamp = message.timestamp;
    full.envelope_sender = message.envelope_sender.take();
    full.envelope_recipient = message.envelope_recipient.take();
    full.envelope_recipients = std::mem::take(&mut message.envelope_recipients);
    full.spam_detected = message.spam_detected;
    full.spam_score = message.spam_score;
    // The single-use token the delivery carried, the provider's own reply
    // text: neither is in the MIME.
    full.replay_token = message.replay_token.take();
    full.stripped_text = message.stripped_text.take();
    if full.text.is_none() {
        full.text = message.text.take();
    }
    if full.html.is_none() {
        full.html = message.html.take();
    }
    full.pending = std::mem::take(&mut message.pending);
    *message = full;
    Ok(())
}
