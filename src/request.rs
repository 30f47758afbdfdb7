//! The one request type every provider, the pipeline and the adapters take.

use std::borrow::Cow;
use std::fmt;

use time::OffsetDateTime;

use crate::headers::Headers;

/// One webhook request: its headers, its raw body, the public URL the
/// provider called, and when it arrived.
///
/// The URL is the one configured at the provider (scheme, host, path and
/// query, as the provider sent them), not one rebuilt from the request's
/// unsigned `Host` header: URL-signed schemes (Twilio) sign it and
/// some providers put a secret in its query. The adapters fill
/// it from a configured public base URL plus the request's path and query.
///
/// ```
/// use email_webhooks::Request;
///
/// let headers = http::HeaderMap::new();
/// let request = Request::new(&headers, b"{}")
///     .with_url("https://hooks.example.com/webhooks/acme?secret=s3cret");
/// assert_eq!(request.query_param("secret").as_deref(), Some("s3cret"));
/// ```
#[derive(Clone, Copy)]
pub struct Request<'a> {
    headers: &'a (dyn Headers + Sync),
    body: &'a [u8],
    url: Option<&'a str>,
    now: OffsetDateTime,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the body, the headers or the URL's query: they may carry
        // credentials and personal data.
        f.debug_struct("Request")
            .field("body_len", &self.body.len())
            .field("has_url", &self.url.is_some())
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl<'a> Request<'a> {
    /// A request with `headers` and the raw `body`, arriving now, with no
    /// public URL.
    #[must_use]
    pub fn new(headers: &'a (dyn Headers + Sync), body: &'a [u8]) -> Self {
        Self {
            headers,
            body,
            url: None,
            now: OffsetDateTime::now_utc(),
        }
    }

    /// Sets the public URL the provider called, query included.
    #[must_use]
    pub fn with_url(mut self, url: &'a str) -> Self {
        self.url = Some(url);
        self
    }

    /// Sets the arrival time (for replay windows and certificate validity;
    /// tests and replays of captured requests fix it).
    #[must_use]
    pub fn at(mut self, now: OffsetDateTime) -> Self {
        self.now = now;
        self
    }

    /// The request's headers.
    #[must_use]
    pub fn headers(&self) -> &'a (dyn Headers + Sync) {
        self.headers
    }

    /// The raw body, exactly as received.
    #[must_use]
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The public URL the provider called, if known.
    #[must_use]
    pub fn url(&self) -> Option<&'a str> {
        self.url
    }

    /// When the request arrived.
    #[must_use]
    pub fn now(&self) -> OffsetDateTime {
        self.now
    }

    /// The value of query parameter `name` in the URL, percent-decoded
    /// (`+` as a space). `None` when there is no URL, no such parameter,
    /// the parameter is repeated (which copy was meant is ambiguous), or its
    /// value is not UTF-8 once decoded.
    #[must_use]
    pub fn query_param(&self, name: &str) -> Option<Cow<'a, str>> {
        let url = self.url?;
        let query = url.split_once('?')?.1;
        let query = query.split_once('#').map_or(query, |(q, _)| q);
        let mut found = None;
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if percent_decode(key)?.as_ref() == name {
                if found.is_some() {
                    return None;
                }
                found = Some(value);
            }
        }
        percent_decode(found?)
    }
}

/// Strict `application/x-www-form-urlencoded` decoding of one query
/// component: `+` is a space, `%XX` a byte; a malformed escape or a result
/// that is not UTF-8 is `None`.
fn percent_decode(input: &str) -> Option<Cow<'_, str>> {
    if !input.contains(['%', '+']) {
        return Some(Cow::Borrowed(input));
    }
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.bytes();
    while let Some(b) = bytes.next() {
        out.push(match b {
            b'+' => b' ',
            b'%' => {
                let hi = crate::encoding::hex_digit(bytes.next()?)?;
                let lo = crate::encoding::hex_digit(bytes.next()?)?;
                (hi << 4) | lo
            }
            other => other,
        });
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &'static str) -> Request<'static> {
        static NONE: [(&str, &str); 0] = [];
        Request::new(&NONE, b"").with_url(u)
    }

    #[test]
    fn query_param_decodes_and_refuses_ambiguity() {
        assert_eq!(
            url("https://h/p?secret=a%2Bb+c")
                .query_param("secret")
                .as_deref(),
            Some("a+b c")
        );
        assert_eq!(
            url("https://h/p?x=1&secret=s#frag")
                .query_param("secret")
                .as_deref(),
            Some("s")
        );
        assert_eq!(
            url("https://h/p?secret=a&secret=b").query_param("secret"),
            None
        );
        assert_eq!(url("https://h/p?secrets=a").query_param("secret"), None);
        assert_eq!(url("https://h/p").query_param("secret"), None);
        assert_eq!(url("https://h/p?secret=%FF").query_param("secret"), None);
        assert_eq!(
            url("https://h/p?secret").query_param("secret").as_deref(),
            Some("")
        );
        assert_eq!(url("https://h/p?secret=%4").query_param("secret"), None);
    }

    #[test]
    fn debug_shows_no_url_or_body() {
        let shown = format!("{:?}", url("https://h/p?secret=hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
