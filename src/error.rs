//! Errors with stable, machine-readable codes.
//!
//! Every error has a `code()` (see [`VerifyError::code`]) that adapters, logs and
//! the command-line tool use; the codes are part of the crate's stable contract.
//! `Display` texts are lowercase, one clause, and never contain a secret, a
//! computed MAC or the request body.

use std::borrow::Cow;
use std::time::Duration;

/// Why a webhook request failed verification.
///
/// Match on [`code()`](Self::code) for a stable string, or on the variants for the
/// context they carry. New variants may be added in minor releases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A header the scheme requires is absent. Code `missing_header`.
    #[error("missing header `{name}`")]
    MissingHeader {
        /// The header's name as the scheme spells it.
        name: Cow<'static, str>,
    },
    /// A header is present but cannot be used. Code `malformed_header`.
    #[error("malformed header `{name}`: {problem}")]
    MalformedHeader {
        /// The header's name as the scheme spells it.
        name: Cow<'static, str>,
        /// What is wrong with it.
        problem: HeaderProblem,
    },
    /// A configured key could not be used. Code `invalid_secret`.
    #[error("invalid secret")]
    InvalidSecret(#[from] SecretError),
    /// No signature in the request matches any configured key. Code
    /// `invalid_signature`. Deliberately says nothing about how it failed.
    #[error("signature does not match")]
    InvalidSignature,
    /// The signed timestamp is further in the past than the replay window
    /// allows. Code `timestamp_too_old`.
    #[error("timestamp {timestamp} is more than {}s before now ({now})", tolerance.as_secs())]
    TimestampTooOld {
        /// The signed timestamp, Unix seconds.
        timestamp: i64,
        /// The verifier's notion of now, Unix seconds.
        now: i64,
        /// The past tolerance that was exceeded.
        tolerance: Duration,
    },
    /// The signed timestamp is further in the future than the replay window
    /// allows. Code `timestamp_too_new`.
    #[error("timestamp {timestamp} is more than {}s after now ({now})", tolerance.as_secs())]
    TimestampTooNew {
        /// The signed timestamp, Unix seconds.
        timestamp: i64,
        /// The verifier's notion of now, Unix seconds.
        now: i64,
        /// The future tolerance that was exceeded.
        tolerance: Duration,
    },
    /// The request is signed, but not with a scheme or version this verifier
    /// accepts (for example GitHub's SHA-1 header alone, or only unknown
    /// Standard Webhooks versions). Code `unsupported_scheme`.
    #[error("unsupported signature scheme: {detail}")]
    UnsupportedScheme {
        /// What was found instead, in a few words.
        detail: &'static str,
    },
    /// The scheme needs a body and there is none. Code `missing_body`.
    #[error("missing body")]
    MissingBody,
    /// The body is larger than [`Limits::max_body_bytes`](crate::Limits::max_body_bytes).
    /// Code `body_too_large`.
    #[error("body of {len} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The body's length in bytes.
        len: usize,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// A form-encoded body has more parameters than
    /// [`Limits::max_form_params`](crate::Limits::max_form_params). Code
    /// `too_many_parameters`.
    #[error("the form body has more than {limit} parameters")]
    TooManyParameters {
        /// The configured limit.
        limit: usize,
    },
    /// Basic-auth credentials or a shared token are wrong (or of another
    /// scheme than the one configured). Code `unauthorized`.
    #[error("unauthorized: the credentials do not match")]
    Unauthorized,
    /// The request carries no credentials at all (no `Authorization`
    /// header). Code `unauthorized`, as [`VerifyError::Unauthorized`]: the
    /// text alone tells them apart.
    #[error("unauthorized: the request has no `Authorization` header")]
    MissingCredentials,
    /// A signing-certificate URL is not one the provider uses. Code
    /// `untrusted_certificate_url`.
    #[error("untrusted certificate url")]
    UntrustedCertificateUrl,
    /// A signing certificate could not be parsed or used. Code
    /// `invalid_certificate`.
    #[error("invalid certificate")]
    InvalidCertificate,
    /// The signing certificate could not be fetched now (network, DNS,
    /// timeout, an error answer): nothing was proven either way, so the
    /// delivery must be retried. Code `certificate_unavailable`; answered
    /// 503 ([`is_retryable`](Self::is_retryable)).
    #[error("the signing certificate could not be fetched")]
    CertificateUnavailable,
    /// The request's body could not be read to its end (the connection
    /// broke, or a body timeout of the server ended the read): nothing was
    /// proven either way, so the delivery must be retried. Code
    /// `body_unreadable`; answered 503 ([`is_retryable`](Self::is_retryable)).
    #[error("the request body could not be read")]
    BodyUnreadable,
    /// The mechanism reads the public URL the provider called (Twilio signs
    /// it; a URL secret is in its query), and the request carries none: the
    /// receiver is not configured with its public URL
    /// ([`Request::with_url`](crate::Request::with_url), the adapters'
    /// `PublicUrl`). A mistake of the receiver, not of the sender, so it is
    /// answered 500 and the provider retries while you fix it. Code
    /// `no_public_url`.
    #[error("the receiver is not configured with its public url")]
    NoPublicUrl,
    /// A source allowlist or a rate limit is configured and the server does
    /// not report the client's address (axum: serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`), or a trusted
    /// proxy names no usable client. A mistake of the receiver, answered
    /// 500 so the provider retries while it is fixed. Code
    /// `no_peer_address`.
    #[error("the server does not report the client's address")]
    NoPeerAddress,
    /// The delivery comes from an address outside the configured allowlist
    /// (or, behind a trusted proxy, its client address cannot be known).
    /// Code `source_not_allowed`; answered 403.
    #[error("the source address is not allowed")]
    SourceNotAllowed,
    /// The request carries a single-use value the provider signs (Mailgun's
    /// token) that was already seen: a captured signature is being reused,
    /// perhaps with other content. Code `replayed`. Reported by a
    /// [`Pipeline`](crate::pipeline::Pipeline) with a store.
    #[error("the signed single-use token was already used")]
    Replayed,
    /// The body does not have the shape the scheme requires. Code
    /// `invalid_payload`.
    #[error("invalid payload: {detail}")]
    InvalidPayload {
        /// What is wrong, in a few words.
        detail: &'static str,
    },
}

impl VerifyError {
    /// The stable `snake_case` code of this error, as listed in the crate docs.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader { .. } => "missing_header",
            Self::MalformedHeader { .. } => "malformed_header",
            Self::InvalidSecret(_) => "invalid_secret",
            Self::InvalidSignature => "invalid_signature",
            Self::TimestampTooOld { .. } => "timestamp_too_old",
            Self::TimestampTooNew { .. } => "timestamp_too_new",
            Self::UnsupportedScheme { .. } => "unsupported_scheme",
            Self::MissingBody => "missing_body",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::TooManyParameters { .. } => "too_many_parameters",
            Self::Unauthorized | Self::MissingCredentials => "unauthorized",
            Self::UntrustedCertificateUrl => "untrusted_certificate_url",
            Self::InvalidCertificate => "invalid_certificate",
            Self::CertificateUnavailable => "certificate_unavailable",
            Self::BodyUnreadable => "body_unreadable",
            Self::NoPublicUrl => "no_public_url",
            Self::SourceNotAllowed => "source_not_allowed",
            Self::NoPeerAddress => "no_peer_address",
            Self::Replayed => "replayed",
            Self::InvalidPayload { .. } => "invalid_payload",
        }
    }

    /// Whether the failure is transient (the provider should retry):
    /// [`CertificateUnavailable`](Self::CertificateUnavailable),
    /// [`BodyUnreadable`](Self::BodyUnreadable), and
    /// [`NoPublicUrl`](Self::NoPublicUrl) and
    /// [`NoPeerAddress`](Self::NoPeerAddress) (a receiver configuration to
    /// fix).
    /// Every other verification failure is a definitive refusal.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::CertificateUnavailable
                | Self::BodyUnreadable
                | Self::NoPublicUrl
                | Self::NoPeerAddress
        )
    }

    pub(crate) fn malformed(name: impl Into<Cow<'static, str>>, problem: HeaderProblem) -> Self {
        Self::MalformedHeader {
            name: name.into(),
            problem,
        }
    }
}

/// What is wrong with a header that is present. Part of
/// [`VerifyError::MalformedHeader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderProblem {
    /// The header appears more than once. Proxies may join or reorder repeated
    /// headers, so a repeated signature header is ambiguous and refused.
    #[error("it appears more than once")]
    Repeated,
    /// The value is not valid UTF-8.
    #[error("the value is not utf-8")]
    NotUtf8,
    /// The value is longer than [`Limits::max_header_bytes`](crate::Limits::max_header_bytes).
    #[error("the value is {len} bytes, over the limit of {limit}")]
    TooLong {
        /// The value's length in bytes.
        len: usize,
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The value holds more signature entries than
    /// [`Limits::max_signature_entries`](crate::Limits::max_signature_entries).
    #[error("it holds more than {limit} signature entries")]
    TooManyEntries {
        /// The configured limit.
        limit: usize,
    },
    /// A timestamp is not a non-negative integer number of seconds.
    #[error("the timestamp is not a unix time in seconds")]
    InvalidTimestamp,
    /// The value does not follow the scheme's grammar.
    #[error("{0}")]
    Syntax(&'static str),
}

/// Why a key could not be built or used. Code `invalid_secret`.
///
/// The text never contains the key material itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The key is empty.
    #[error("the key is empty")]
    Empty,
    /// The key's base64 is not valid (strict: standard alphabet, no stray
    /// characters, canonical trailing bits).
    #[error("the key is not valid base64")]
    Base64(#[source] base64::DecodeError),
    /// The key has a prefix that names another key type (for example a
    /// `whpk_` public key where a `whsec_` secret was expected).
    #[error("the key has the prefix `{found}` where `{expected}` was expected")]
    WrongPrefix {
        /// The prefix found.
        found: &'static str,
        /// The prefix expected.
        expected: &'static str,
    },
    /// The key decodes to the wrong number of bytes.
    #[error("the key is {actual} bytes where {expected} were expected")]
    WrongLength {
        /// How many bytes the key type needs.
        expected: &'static str,
        /// How many bytes were found.
        actual: usize,
    },
    /// The bytes are not a valid key of this type (for example an Ed25519
    /// seed whose public half does not match), or an operation with the key
    /// failed; the text names what was refused.
    #[error("the key was refused: {0}")]
    Rejected(&'static str),
    /// The text does not have the form the setting takes (for example
    /// basic-auth credentials without a `:`); the text names the form.
    #[error("expected {0}")]
    Malformed(&'static str),
}

/// Why a provider's payload could not be parsed. Code `invalid_payload`.
///
/// Parsing never panics and never guesses: a body that is not the JSON (or
/// form) the provider documents is this error. Where JSON failed, its
/// `source()` says where (line and column) and what kind of failure it was
/// (syntax, unexpected data, unexpected end), never what the body holds:
/// payloads carry addresses and custom data that must not reach logs.
#[derive(Debug, thiserror::Error)]
#[error("invalid payload: {detail}")]
pub struct ParseError {
    detail: &'static str,
    #[source]
    source: Option<JsonPosition>,
}

/// Where and how a JSON document failed to parse: the position and the
/// class of failure, without any of the document's content (`serde_json`'s
/// own messages quote the offending value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at line {line} column {column}")]
pub struct JsonPosition {
    line: usize,
    column: usize,
    kind: &'static str,
}

impl JsonPosition {
    fn new(e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let kind = match e.classify() {
            Category::Io => "read error",
            Category::Syntax => "syntax error",
            Category::Data => "unexpected type or value",
            Category::Eof => "unexpected end of input",
        };
        Self {
            line: e.line(),
            column: e.column(),
            kind,
        }
    }

    /// The line (1-based) where parsing failed.
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column (1-based) where parsing failed.
    #[must_use]
    pub fn column(&self) -> usize {
        self.column
    }

    /// The class of failure: `syntax error`, `unexpected type or value`,
    /// `unexpected end of input` or `read error`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

impl ParseError {
    /// A parse error with a short, fixed description (for your own
    /// providers). Never put body content in it.
    #[must_use]
    pub fn new(detail: &'static str) -> Self {
        Self {
            detail,
            source: None,
        }
    }

    /// A parse error from serde_json, keeping only the position and class
    /// of the failure (serde_json's message may quote the body).
    #[must_use]
    pub fn json(detail: &'static str, source: &serde_json::Error) -> Self {
        Self {
            detail,
            source: Some(JsonPosition::new(source)),
        }
    }

    /// Always `invalid_payload`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        "invalid_payload"
    }

    /// What is wrong, in a few words.
    #[must_use]
    pub fn detail(&self) -> &'static str {
        self.detail
    }

    /// Where JSON parsing failed, when it did.
    #[must_use]
    pub fn position(&self) -> Option<&JsonPosition> {
        self.source.as_ref()
    }
}

/// Any error of this crate: verification or parsing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request failed verification.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The verified body could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The idempotency store failed.
    #[error(transparent)]
    Store(#[from] crate::idempotency::StoreError),
    /// Content an inbound delivery refers to could not be fetched.
    #[error(transparent)]
    Fetch(#[from] crate::inbound::FetchError),
}

impl From<SecretError> for Error {
    fn from(e: SecretError) -> Self {
        Self::Verify(VerifyError::InvalidSecret(e))
    }
}

impl Error {
    /// The HTTP status to answer with, revealing nothing that helps an
    /// attacker: 413 too large, 400 malformed (a header present but broken,
    /// or a body that is not the provider's payload), 503 for a transient
    /// failure (the store, or fetching a certificate: the provider retries),
    /// and 401 for everything not proven, unsigned requests included. Used
    /// by the adapters; use it in any server. The crate docs' table lists
    /// every code with its status.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Verify(VerifyError::CertificateUnavailable | VerifyError::BodyUnreadable)
            | Self::Store(_)
            | Self::Fetch(_) => 503,
            Self::Verify(VerifyError::NoPublicUrl | VerifyError::NoPeerAddress) => 500,
            Self::Verify(VerifyError::SourceNotAllowed) => 403,
            Self::Verify(
                VerifyError::BodyTooLarge { .. } | VerifyError::TooManyParameters { .. },
            ) => 413,
            Self::Verify(
                VerifyError::MalformedHeader { .. } | VerifyError::InvalidPayload { .. },
            )
            | Self::Parse(_) => 400,
            Self::Verify(_) => 401,
        }
    }

    /// Whether the provider should retry: a transient failure (the store,
    /// fetching a certificate) answered 5xx, rather than a definitive
    /// refusal answered 4xx.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.http_status() >= 500
    }

    /// The stable code of the underlying error.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Verify(e) => e.code(),
            Self::Parse(e) => e.code(),
            Self::Store(e) => e.code(),
            Self::Fetch(e) => e.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_lowercase_and_codes_are_snake_case() {
        let errors = [
            VerifyError::MissingHeader {
                name: "webhook-id".into(),
            },
            VerifyError::malformed("x", HeaderProblem::Repeated),
            VerifyError::InvalidSecret(SecretError::Empty),
            VerifyError::InvalidSignature,
            VerifyError::TimestampTooOld {
                timestamp: 1,
                now: 400,
                tolerance: Duration::from_secs(300),
            },
            VerifyError::UnsupportedScheme { detail: "sha1" },
            VerifyError::BodyTooLarge { len: 2, limit: 1 },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(text.starts_with(|c: char| c.is_ascii_lowercase()), "{text}");
            assert!(e.code().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }

    #[test]
    fn http_statuses_reveal_only_the_class_of_failure() {
        let status = |e: VerifyError| Error::Verify(e).http_status();
        assert_eq!(status(VerifyError::BodyTooLarge { len: 2, limit: 1 }), 413);
        assert_eq!(
            status(VerifyError::malformed("x", HeaderProblem::Repeated)),
            400
        );
        assert_eq!(status(VerifyError::MissingHeader { name: "x".into() }), 401);
        assert_eq!(status(VerifyError::InvalidSignature), 401);
        assert_eq!(status(VerifyError::UntrustedCertificateUrl), 401);
        assert_eq!(status(VerifyError::Replayed), 401);
        assert_eq!(Error::Parse(ParseError::new("x")).http_status(), 400);
        let store = crate::idempotency::StoreError::Full { capacity: 1 };
        assert_eq!(Error::Store(store).http_status(), 503);
    }

    #[test]
    fn invalid_secret_keeps_its_source() {
        use std::error::Error as _;
        let e = VerifyError::from(SecretError::Empty);
        assert_eq!(e.code(), "invalid_secret");
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("the key is empty")
        );
    }
}
