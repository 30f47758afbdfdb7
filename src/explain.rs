//! Why a signature does not match: the known mistakes tried as hypotheses.
//!
//! When a request fails to verify, the cause is almost always one of a
//! handful: the framework re-serialized the JSON body, a trailing newline
//! was added or stripped, line endings changed, the secret was used in the
//! wrong encoding (`whsec_` kept or dropped, base64 decoded or not), the URL
//! differs from the one the provider signed, the clock is skewed, another
//! environment's key is configured, a proxy joined repeated headers, or the
//! headers carry the other family's names (`svix-*` for `webhook-*`).
//! [`diagnose`] makes each of those changes to the request and asks a
//! check of yours whether the changed request verifies; the first that does
//! is the [`Cause`].
//!
//! It costs one verification per hypothesis, at most [`MAX_ATTEMPTS`]: use
//! it while developing, or from the CLI's `email-webhooks explain`, never on
//! every refusal in production (an attacker could make a receiver do the
//! work, and the answer must not help anyone forge a request: [`Diagnosis`]
//! holds no secret, no expected signature and no body).
//!
//! ```
//! use email_webhooks::explain::{Cause, Parts, diagnose};
//! use email_webhooks::provider::{Provider, Settings};
//!
//! // A check of your own: here, the body must be exactly `{"a":1}`.
//! let parts = Parts::new(vec![], b"{\"a\": 1}".to_vec());
//! let diagnosis = diagnose(&parts, &Settings::new(), |candidate| candidate.body == b"{\"a\":1}");
//! assert!(!diagnosis.verified);
//! assert_eq!(diagnosis.cause, Some(Cause::BodyReserialized));
//! ```

use std::fmt;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::provider::{ReplayChoice, Settings};

/// The most verifications one diagnosis runs.
pub const MAX_ATTEMPTS: usize = 64;

/// A request as received: headers, raw body, the URL the receiver knows
/// itself by, and the time it arrived (Unix seconds).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Parts {
    /// The headers, in order, repeated ones repeated.
    pub headers: Vec<(String, String)>,
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// The public URL, for URL-signed schemes.
    pub url: Option<String>,
    /// When the request arrived, Unix seconds (default: now).
    pub now: Option<i64>,
}

impl fmt::Debug for Parts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parts")
            .field(
                "header_names",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .field("has_url", &self.url.is_some())
            .field("now", &self.now)
            .finish()
    }
}

impl Parts {
    /// A request of `headers` and `body`.
    #[must_use]
    pub fn new(headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        Self {
            headers,
            body,
            url: None,
            now: None,
        }
    }

    /// Sets the arrival time (Unix seconds).
    #[must_use]
    pub fn at(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }

    /// Sets the public URL.
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }
}

/// The mistake that, undone, makes the request verify. Stable codes
/// ([`Cause::code`]); new hypotheses add variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The body was parsed and serialized again (spacing, key order or
    /// escaping changed). Code `body_reserialized`.
    BodyReserialized,
    /// A trailing newline was added or removed. Code
    /// `body_trailing_newline`.
    BodyTrailingNewline,
    /// Line endings were changed (CRLF and LF). Code `body_line_endings`.
    BodyLineEndings,
    /// The secret is in the wrong encoding (`whsec_` prefix, base64).
    /// Code `secret_encoding`.
    SecretEncoding,
    /// The URL differs from the one the provider signed (scheme, port,
    /// trailing slash, query). Code `url_variant`.
    UrlVariant,
    /// The signature is good but its time is outside the replay window:
    /// the signed time minus the receiver's clock, in seconds (negative:
    /// the request is older), where the check reports the signed time.
    /// Code `clock_skew`.
    ClockSkew {
        /// Signed time minus the receiver's time, seconds; `None` where the
        /// check does not say when the request was signed.
        seconds: Option<i64>,
    },
    /// A proxy joined repeated headers into one. Code `headers_joined`.
    HeadersJoined,
    /// The headers carry the other family's names (`svix-*`, `webhook-*`).
    /// Code `header_family`.
    HeaderFamily,
    /// Another of the keys given verifies: the one configured is not the
    /// sender's (another environment's, or an old one). Code `wrong_key`.
    WrongKey {
        /// Which of the keys given (0 is the configured one).
        index: usize,
    },
}

impl Cause {
    /// The stable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BodyReserialized => "body_reserialized",
            Self::BodyTrailingNewline => "body_trailing_newline",
            Self::BodyLineEndings => "body_line_endings",
            Self::SecretEncoding => "secret_encoding",
            Self::UrlVariant => "url_variant",
            Self::ClockSkew { .. } => "clock_skew",
            Self::HeadersJoined => "headers_joined",
            Self::HeaderFamily => "header_family",
            Self::WrongKey { .. } => "wrong_key",
        }
    }

    /// What to do about it, in plain words.
    #[must_use]
    pub fn hint(&self) -> String {
        match self {
            Self::BodyReserialized => "your framework parsed and re-serialized the JSON body: verify the raw bytes as received (in axum take `Bytes`, not `Json<T>`; in actix-web `web::Bytes`)".into(),
            Self::BodyTrailingNewline => "a trailing newline was added or stripped: verify the body exactly as received, without trimming".into(),
            Self::BodyLineEndings => "line endings were converted (CRLF/LF): read the body as bytes, never as text lines".into(),
            Self::SecretEncoding => "the secret is used in the wrong encoding: a `whsec_…` secret is base64 after its prefix (Standard Webhooks), other providers use the text as given; check the prefix and the decoding".into(),
            Self::UrlVariant => "the URL differs from the one the provider signed: configure the public URL exactly as registered with the provider (scheme, host, port, path, query), not the one a proxy forwards to".into(),
            Self::ClockSkew { seconds: Some(seconds) } if *seconds < 0 => format!("the signature is good but {} s old, outside the replay window: check the receiver's clock (NTP), or whether the request is a replay (a captured request checked later: pass the time it arrived, `--now`)", seconds.unsigned_abs()),
            Self::ClockSkew { seconds: Some(seconds) } => format!("the signature is good but signed {seconds} s in the future: the receiver's clock is behind; sync it (NTP)"),
            Self::ClockSkew { seconds: None } => "the signature is good but its signed time is outside the replay window: check the receiver's clock (NTP), or whether the request is a replay (a captured request checked later: pass the time it arrived, `--now`)".into(),
            Self::HeadersJoined => "a proxy joined repeated headers into one comma-separated value: pass them through unchanged".into(),
            Self::HeaderFamily => "the signature headers mix the `svix-*` and `webhook-*` names: keep the names the sender used".into(),
            Self::WrongKey { index } => format!("the key configured does not match, but key #{index} of those given does: configure that one (another environment's key is in use)"),
        }
    }
}

/// What a check says of a candidate: refused, or verified (with the time
/// its signature carries, Unix seconds, where one is signed). A `bool`
/// converts: `true` is verified with no time known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It does not verify.
    Refused,
    /// It verifies.
    Verified {
        /// The signed time, where the scheme signs one.
        signed_at: Option<i64>,
    },
}

impl From<bool> for Outcome {
    fn from(verified: bool) -> Self {
        if verified {
            Self::Verified { signed_at: None }
        } else {
            Self::Refused
        }
    }
}

/// A changed request for the check to try.
#[derive(Clone)]
#[non_exhaustive]
pub struct Candidate {
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The URL.
    pub url: Option<String>,
    /// The settings (the secrets and keys to use, the replay choice).
    pub settings: Settings,
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("headers", &self.headers.len())
            .field("body_len", &self.body.len())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What [`diagnose`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnosis {
    /// Whether the request verifies as given.
    pub verified: bool,
    /// The mistake that explains the refusal, if one of the known ones does.
    pub cause: Option<Cause>,
    /// A [`Cause::ClockSkew`] found besides `cause`: undoing `cause` makes
    /// the signature match, but its time is also outside the replay window
    /// (typically a request captured earlier and checked now).
    pub also: Option<Cause>,
    /// How many verifications it took.
    pub attempts: usize,
}

/// What was signed: each part's length and SHA-256, never its content.
#[must_use]
pub fn signed_parts(parts: &Parts) -> serde_json::Value {
    let digest = |bytes: &[u8]| crate::encoding::hex(&Sha256::digest(bytes));
    let headers: Vec<serde_json::Value> = parts
        .headers
        .iter()
        .filter(|(name, _)| !carries_secret(name))
        .map(|(name, value)| serde_json::json!({"name": name, "bytes": value.len(), "sha256": digest(value.as_bytes())}))
        .collect();
    let mut signed = serde_json::json!({
        "body": {"bytes": parts.body.len(), "sha256": digest(&parts.body),
                 "ends_with_newline": parts.body.ends_with(b"\n"), "has_crlf": parts.body.windows(2).any(|w| w == b"\r\n")},
        "headers": headers,
    });
    if let Some(url) = &parts.url {
        // Neither the query nor the credentials before the host, nor a
        // digest of them: either can hold a secret (a URL signed with its
        // basic-auth credentials, or one that carries its secret), and
        // an unsalted digest of a short secret is guessed offline.
        let (base, query) = url.split_once(['?', '#']).unwrap_or((url, ""));
        let (scheme, rest) = base.split_once("://").unwrap_or(("", base));
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (credentials, host) = authority.rsplit_once('@').unwrap_or(("", authority));
        let shown = if scheme.is_empty() {
            format!("{host}{path}")
        } else {
            format!("{scheme}://{host}{path}")
        };
        signed["url"] = serde_json::json!({
            "without_query": shown, "bytes": url.len(),
            "has_credentials": !credentials.is_empty(), "has_query": !query.is_empty(),
        });
    }
    signed
}

/// Whether a header may carry a secret itself (credentials, a token, a
/// key), rather than a signature or a time: such a header's digest is not
/// printed, since a short secret's unsalted digest is guessed offline
/// (`Authorization`, a relay's webhook token, an API
/// key header).
fn carries_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["auth", "token", "secret", "key", "password", "cookie"]
        .iter()
        .any(|word| name.contains(word))
}

/// Checks the request as given, then each hypothesis in turn (at most
/// [`MAX_ATTEMPTS`] checks in all), with `check` saying whether a
/// candidate verifies. The settings' first secret, key and basic-auth pair
/// are the configured ones; any others are other keys you hold, tried one
/// at a time for [`Cause::WrongKey`].
///
/// The hypotheses are tried with the replay check off, so that a request
/// captured earlier still shows its mistake; when the one found is also
/// outside the replay window as configured, [`Diagnosis::also`] says so
/// (one more check).
pub fn diagnose<R: Into<Outcome>>(
    parts: &Parts,
    settings: &Settings,
    mut check: impl FnMut(&Candidate) -> R,
) -> Diagnosis {
    let configured = only_first(settings);
    let base = Candidate {
        headers: parts.headers.clone(),
        body: parts.body.clone(),
        url: parts.url.clone(),
        settings: configured.clone(),
    };
    let mut diagnosis = Diagnosis {
        verified: false,
        cause: None,
        also: None,
        attempts: 1,
    };
    if check(&base).into() != Outcome::Refused {
        diagnosis.verified = true;
        return diagnosis;
    }
    let now = parts
        .now
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp());
    let skew = |signed_at: Option<i64>| Cause::ClockSkew {
        seconds: signed_at.map(|t| t.saturating_sub(now)),
    };
    // The clock first: with the replay check off, a good signature shows.
    // Every other hypothesis is tried with it off too, so that a captured
    // request checked later still shows its other mistake.
    let windowed = base.settings.replay != ReplayChoice::DangerousDisabled;
    let mut relaxed = base.clone();
    relaxed.settings.replay = ReplayChoice::DangerousDisabled;
    let mut tried = vec![(skew(None), relaxed.clone())];
    tried.extend(hypotheses(&relaxed, settings));
    for (cause, candidate) in tried {
        if diagnosis.attempts == MAX_ATTEMPTS {
            break;
        }
        diagnosis.attempts += 1;
        let Outcome::Verified { signed_at } = check(&candidate).into() else {
            continue;
        };
        if matches!(cause, Cause::ClockSkew { .. }) {
            diagnosis.cause = Some(skew(signed_at));
            return diagnosis;
        }
        diagnosis.cause = Some(cause);
        // Whether the replay window, as configured, refuses it as well.
        if windowed && diagnosis.attempts < MAX_ATTEMPTS {
            diagnosis.attempts += 1;
            let mut as_configured = candidate;
            as_configured.settings.replay = base.settings.replay;
            if check(&as_configured).into() == Outcome::Refused {
                diagnosis.also = Some(skew(signed_at));
            }
        }
        return diagnosis;
    }
    diagnosis
}

/// [`diagnose`] for a registered provider, built from `settings` through
/// the registry as the CLI builds it; `None` for a custom provider. A
/// provider that would wait on the network (SES fetching a certificate)
/// counts as not verifying.
#[must_use]
pub fn diagnose_provider(
    provider: crate::Provider,
    parts: &Parts,
    settings: &Settings,
) -> Option<Diagnosis> {
    use futures_util::FutureExt as _;
    let info = provider.info()?;
    let now = parts
        .now
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    Some(diagnose(parts, settings, |candidate| {
        let Ok(built) = (info.build)(&candidate.settings) else {
            return Outcome::Refused;
        };
        let mut request = crate::Request::new(&candidate.headers, &candidate.body).at(now);
        if let Some(url) = &candidate.url {
            request = request.with_url(url);
        }
        match built.receive_boxed(&request).now_or_never() {
            Some(Ok(received)) => Outcome::Verified {
                signed_at: received.proof.and_then(|p| p.unix_timestamp),
            },
            _ => Outcome::Refused,
        }
    }))
}

/// The settings with only the first secret and the first key.
fn only_first(settings: &Settings) -> Settings {
    let mut s = settings.clone();
    s.secrets.truncate(1);
    s.keys.truncate(1);
    s.basic_auth.truncate(1);
    s
}

/// Every hypothesis for `base`, in the order they are tried.
fn hypotheses(base: &Candidate, all: &Settings) -> Vec<(Cause, Candidate)> {
    let mut out = Vec::new();
    // Other keys given.
    for (index, secret) in all.secrets.iter().enumerate().skip(1) {
        let mut c = base.clone();
        c.settings.secrets = vec![secret.clone()];
        out.push((Cause::WrongKey { index }, c));
    }
    for (index, key) in all.keys.iter().enumerate().skip(1) {
        let mut c = base.clone();
        c.settings.keys = vec![key.clone()];
        out.push((Cause::WrongKey { index }, c));
    }
    for (index, pair) in all.basic_auth.iter().enumerate().skip(1) {
        let mut c = base.clone();
        c.settings.basic_auth = vec![pair.clone()];
        out.push((Cause::WrongKey { index }, c));
    }
    out.extend(body_hypotheses(base));
    // The secret's encoding.
    if let Some(secret) = base.settings.secrets.first() {
        for variant in secret_variants(secret) {
            let mut c = base.clone();
            c.settings.secrets = vec![variant];
            out.push((Cause::SecretEncoding, c));
        }
    }
    // The URL.
    if let Some(url) = &base.url {
        for variant in url_variants(url) {
            out.push((
                Cause::UrlVariant,
                Candidate {
                    url: Some(variant),
                    ..base.clone()
                },
            ));
        }
    }
    // Joined headers: each part of a comma-joined value alone.
    for (i, (_, value)) in base.headers.iter().enumerate() {
        if value.contains(", ") {
            for part in value.split(", ").take(4) {
                let mut c = base.clone();
                part.trim().clone_into(&mut c.headers[i].1);
                out.push((Cause::HeadersJoined, c));
            }
        }
    }
    // The header family.
    for (from, to) in [("svix-", "webhook-"), ("webhook-", "svix-")] {
        if base
            .headers
            .iter()
            .any(|(k, _)| k.to_ascii_lowercase().starts_with(from))
        {
            let mut c = base.clone();
            for (k, _) in &mut c.headers {
                if k.to_ascii_lowercase().starts_with(from) {
                    *k = format!("{to}{}", &k[from.len()..]);
                }
            }
            out.push((Cause::HeaderFamily, c));
        }
    }
    out
}

/// The body's hypotheses: the newline and line-ending mistakes first
/// (smaller and more specific), then a re-serialization.
fn body_hypotheses(base: &Candidate) -> Vec<(Cause, Candidate)> {
    let mut out = Vec::new();
    let with_body = |body: Vec<u8>| Candidate {
        body,
        ..base.clone()
    };
    let body = &base.body;
    let trimmed = body
        .strip_suffix(b"\r\n")
        .or_else(|| body.strip_suffix(b"\n"));
    if let Some(trimmed) = trimmed {
        out.push((Cause::BodyTrailingNewline, with_body(trimmed.to_vec())));
    }
    for ending in [&b"\n"[..], b"\r\n"] {
        out.push((
            Cause::BodyTrailingNewline,
            with_body([body.as_slice(), ending].concat()),
        ));
    }
    if body.windows(2).any(|w| w == b"\r\n") {
        out.push((
            Cause::BodyLineEndings,
            with_body(replace(body, b"\r\n", b"\n")),
        ));
    } else if body.contains(&b'\n') {
        out.push((
            Cause::BodyLineEndings,
            with_body(replace(body, b"\n", b"\r\n")),
        ));
    }
    if let Ok(text) = std::str::from_utf8(body) {
        if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
            for candidate in json_variants(text) {
                let candidate = candidate.into_bytes();
                let known = out
                    .iter()
                    .any(|(_, c): &(Cause, Candidate)| c.body == candidate);
                if &candidate != body && !known {
                    out.push((Cause::BodyReserialized, with_body(candidate)));
                }
            }
        }
    }
    out
}

fn replace(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 16);
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

/// The secret as the other encodings would have it: with `whsec_` added or
/// removed, base64-decoded (as text, where it decodes to text) or encoded.
fn secret_variants(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    if let Some(rest) = secret.strip_prefix("whsec_") {
        out.push(rest.to_owned());
        if let Ok(text) = b64.decode(rest).map(String::from_utf8) {
            out.extend(text.ok());
        }
    } else {
        out.push(format!("whsec_{secret}"));
        out.push(format!("whsec_{}", b64.encode(secret)));
        out.push(b64.encode(secret));
        if let Ok(text) = b64.decode(secret).map(String::from_utf8) {
            out.extend(text.ok());
        }
    }
    out.retain(|v| !v.is_empty() && v != secret);
    out
}

/// The URL with the scheme swapped, the default port added or removed, a
/// trailing slash toggled, and its query sorted or dropped.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(rest) = url.strip_prefix("https://") {
        out.push(format!("http://{rest}"));
    } else if let Some(rest) = url.strip_prefix("http://") {
        out.push(format!("https://{rest}"));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let port = if scheme == "https" { ":443" } else { ":80" };
        if let Some(host) = authority.strip_suffix(port) {
            out.push(format!("{scheme}://{host}{tail}"));
        } else if !authority.contains(':') {
            out.push(format!("{scheme}://{authority}{port}{tail}"));
        }
    }
    let (path, query) = url
        .split_once('?')
        .map_or((url, None), |(p, q)| (p, Some(q)));
    let toggled = match path.strip_suffix('/') {
        Some(p) => p.to_owned(),
        None => format!("{path}/"),
    };
    out.push(match query {
        Some(q) => format!("{toggled}?{q}"),
        None => toggled,
    });
    if let Some(q) = query {
        let params: Vec<&str> = q.split('&').collect();
        // Every order of a short query (a proxy or framework may rebuild
        // it in any order); a longer one sorted.
        if params.len() <= 3 {
            for order in permutations(params.len()) {
                let reordered: Vec<&str> = order.iter().map(|&i| params[i]).collect();
                out.push(format!("{path}?{}", reordered.join("&")));
            }
        } else {
            let mut sorted = params.clone();
            sorted.sort_unstable();
            out.push(format!("{path}?{}", sorted.join("&")));
        }
        out.push(path.to_owned());
    }
    out.retain(|v| v != url);
    out
}

/// The JSON text as other serializers write it, likeliest first: compact
/// (JavaScript, Go, serde), spaced `", "` and `": "` (Python's default),
/// pretty with 2 or 4 spaces, keys sorted (compact and spaced), each with
/// non-ASCII characters escaped as `\uXXXX` or written raw; slashes escaped
/// as PHP writes them, or not; compact and pretty with a trailing newline.
fn json_variants(text: &str) -> Vec<String> {
    let compact = minify(text);
    let sorted = serde_json::from_str::<serde_json::Value>(text)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let forms = [
        compact.clone(),
        spaced(&compact),
        pretty(&compact, 2),
        pretty(&compact, 4),
        spaced(&sorted),
        sorted,
    ];
    let mut out = Vec::new();
    for form in &forms {
        out.push(form.clone());
        out.push(ascii_escaped(form));
        out.push(unescaped(form));
    }
    out.push(compact.replace('/', "\\/"));
    out.push(compact.replace("\\/", "/"));
    for form in &forms[..3] {
        out.push(format!("{form}\n"));
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|v| seen.insert(v.clone()));
    out
}

/// Compact JSON with a space after each `,` and `:` outside strings.
fn spaced(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() + compact.len() / 8);
    let mut strings = Strings::default();
    for c in compact.chars() {
        out.push(c);
        if strings.outside(c) && (c == ',' || c == ':') {
            out.push(' ');
        }
    }
    out
}

/// Where a scan of JSON text is: inside a string (and just after a
/// backslash there) or not.
#[derive(Default)]
struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    /// Takes the next character: `true` when it stands outside every
    /// string (a string's quotes count as inside it).
    fn outside(&mut self, c: char) -> bool {
        if self.inside {
            match (self.escaped, c) {
                (true, _) => self.escaped = false,
                (false, '\\') => self.escaped = true,
                (false, '"') => self.inside = false,
                _ => {}
            }
            false
        } else if c == '"' {
            self.inside = true;
            false
        } else {
            true
        }
    }
}

/// Non-ASCII characters written as `\uXXXX` escapes (surrogate pairs
/// beyond the BMP), as Python's `json.dumps` and PHP write them. Outside
/// strings JSON has no non-ASCII characters, so every one is in a string.
fn ascii_escaped(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

/// `\uXXXX` escapes of characters that need none written raw, as
/// JavaScript and serde write them (control characters, `"` and `\` stay
/// escaped).
fn unescaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let unit = |s: &str| s.get(2..6).and_then(|h| u16::from_str_radix(h, 16).ok());
        let decoded = if tail.starts_with("\\u") {
            match unit(tail) {
                Some(high @ 0xd800..=0xdbff) => tail
                    .get(6..)
                    .filter(|t| t.starts_with("\\u"))
                    .and_then(unit)
                    .and_then(|low| char::decode_utf16([high, low]).next()?.ok())
                    .map(|c| (c, 12)),
                Some(code) => char::from_u32(u32::from(code)).map(|c| (c, 6)),
                None => None,
            }
            .filter(|(c, _)| !c.is_control() && *c != '"' && *c != '\\')
        } else {
            None
        };
        if let Some((c, len)) = decoded {
            out.push(c);
            rest = &tail[len..];
        } else {
            // Another escape (`\n`, `\"`, `\\`): kept whole.
            let len = tail.chars().nth(1).map_or(1, |c| 1 + c.len_utf8());
            out.push_str(&tail[..len]);
            rest = &tail[len..];
        }
    }
    out.push_str(rest);
    out
}

/// Every order of `0..n` (n at most 3 where called: 6 orders).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n <= 1 {
        return vec![(0..n).collect()];
    }
    let mut out = Vec::new();
    for order in permutations(n - 1) {
        for at in 0..=order.len() {
            let mut next = order.clone();
            next.insert(at, n - 1);
            out.push(next);
        }
    }
    out
}

/// JSON text with insignificant whitespace removed, key order kept.
fn minify(text: &str) -> String {
    let mut strings = Strings::default();
    text.chars()
        .filter(|&c| !strings.outside(c) || !c.is_whitespace())
        .collect()
}

/// Minified JSON indented by `width` spaces, as pretty-printers write it.
fn pretty(compact: &str, width: usize) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let (mut depth, mut strings) = (0usize, Strings::default());
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', depth * width));
    };
    let chars: Vec<char> = compact.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !strings.outside(c) {
            out.push(c);
            continue;
        }
        match c {
            '{' | '[' => {
                out.push(c);
                // An empty object or array stays on its line.
                if matches!(chars.get(i + 1), Some('}' | ']')) {
                    continue;
                }
                depth += 1;
                newline(&mut out, depth);
            }
            '}' | ']' => {
                if !matches!(chars.get(i.wrapping_sub(1)), Some('{' | '[')) {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_rewrites_are_inverse_and_never_panic_on_broken_escapes() {
        let raw = "{\"n\":\"Zoë 😀 \\\" \\n\"}";
        let escaped = ascii_escaped(raw);
        assert!(escaped.is_ascii(), "{escaped}");
        assert_eq!(unescaped(&escaped), raw);
        // A quote or a control character stays escaped.
        assert_eq!(unescaped("\\u0022\\u000a\\u00e9"), "\\u0022\\u000aé");
        for broken in [
            "\\",
            "\\u",
            "\\u12",
            "\\ud83d",
            "\\ud83d\\u00",
            "é\\",
            "\\é",
            "\\udc00x",
        ] {
            let _ = unescaped(broken);
            let _ = spaced(broken);
            let _ = json_variants(broken);
        }
        assert_eq!(
            spaced("{\"a\":[1,2],\"b\":\"x,y:z\"}"),
            "{\"a\": [1, 2], \"b\": \"x,y:z\"}"
        );
    }

    #[test]
    fn minify_and_pretty_round_trip_and_keep_key_order() {
        let text =
            "{\n  \"b\": [\n    1,\n    2,\n    {}\n  ],\n  \"a\": \"x, y: z\",\n  \"e\": []\n}";
        let compact = minify(text);
        assert_eq!(compact, r#"{"b":[1,2,{}],"a":"x, y: z","e":[]}"#);
        assert_eq!(pretty(&compact, 2), text);
        // As serde_json's own pretty printer writes it.
        let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(
            pretty(
                &minify(&serde_json::to_string(&value).unwrap_or_default()),
                2
            ),
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        assert_eq!(minify(&pretty(&compact, 4)), compact);
    }

    #[test]
    fn url_and_secret_variants_cover_the_usual_mistakes() {
        let v = url_variants("https://h.example/hook?b=2&a=1");
        for expected in [
            "http://h.example/hook?b=2&a=1",
            "https://h.example:443/hook?b=2&a=1",
            "https://h.example/hook/?b=2&a=1",
            "https://h.example/hook?a=1&b=2",
            "https://h.example/hook",
        ] {
            assert!(v.iter().any(|u| u == expected), "{expected}: {v:?}");
        }
        let s = secret_variants("whsec_c2VjcmV0");
        assert!(
            s.contains(&"c2VjcmV0".to_owned()) && s.contains(&"secret".to_owned()),
            "{s:?}"
        );
        let s = secret_variants("secret");
        assert!(
            s.contains(&"whsec_c2VjcmV0".to_owned()) && s.contains(&"c2VjcmV0".to_owned()),
            "{s:?}"
        );
    }
}
