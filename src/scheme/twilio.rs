//! Twilio-style signatures: `X-Twilio-Signature: <base64>`, an HMAC-SHA1
//! (keyed with the auth token) of the full public URL followed by every form
//! parameter's name and value, sorted by name.
//!
//! - Form bodies (`application/x-www-form-urlencoded`) are decoded and their
//!   parameters signed; the body bytes themselves are not.
//! - JSON bodies are covered by a `bodySHA256` query parameter in the URL
//!   (hex SHA-256 of the body), which the signature over the URL covers.
//! - Any other non-empty body is refused: nothing would cover it.
//! - The URL must be the one Twilio called, which the caller knows; nothing
//!   is read from `Host` or `X-Forwarded-*`. Twilio may sign the URL with or
//!   without an explicit default port (`:443`, `:80`), so both forms are
//!   tried, as Twilio's own libraries do.
//!
//! There is no timestamp, so there is no replay window.
//!
//! Source: <https://www.twilio.com/docs/usage/webhooks/webhooks-security>.

use std::borrow::Cow;
use std::iter;

use sha2::Digest as _;

use crate::encoding;
use crate::error::{SecretError, VerifyError};
use crate::form::{self, Param};
use crate::headers::{self, Headers, Name};
use crate::limits::Limits;
use crate::mac::{self, Algorithm, Encoding, MacKey};
use crate::secret::Secret;
use crate::verified::Verified;

/// The header Twilio puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// The query parameter that carries a JSON body's SHA-256.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

static SIGNATURE_NAME: Name = Name::from_static("x-twilio-signature");
static CONTENT_TYPE: Name = Name::from_static("content-type");

/// Verifies Twilio-style requests.
#[derive(Debug)]
pub struct TwilioVerifier {
    keys: Vec<MacKey>,
    limits: Limits,
}

impl TwilioVerifier {
    /// A verifier with the account's auth token, used as raw bytes.
    #[must_use]
    pub fn new(auth_token: Secret) -> Self {
        Self {
            keys: vec![MacKey::new(Algorithm::Sha1, auth_token)],
            limits: Limits::default(),
        }
    }

    /// Also accepts `auth_token` (key rotation).
    #[must_use]
    pub fn with_secret(mut self, auth_token: Secret) -> Self {
        self.keys.push(MacKey::new(Algorithm::Sha1, auth_token));
        self
    }

    /// Sets the size limits (default: [`Limits::default`]).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Verifies a request that Twilio sent to the public `url`.
    ///
    /// # Errors
    ///
    /// A [`VerifyError`] saying why the request is refused.
    pub fn verify<'h, H: Headers + ?Sized>(
        &self,
        headers: &'h H,
        url: &str,
        body: &[u8],
    ) -> Result<Verified<'h>, VerifyError> {
        self.limits.check_body(body)?;
        let signature = headers::required(headers, &SIGNATURE_NAME, &self.limits)?;
        let content_type = headers::optional(headers, &CONTENT_TYPE, &self.limits)?;
        let params = if form::is_form(content_type) {
            form::parse(body)?
        } else if let Some(expected) = query_param(url, BODY_SHA256_PARAM) {
            let actual = encoding::hex(&sha2::Sha256::digest(body));
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(VerifyError::InvalidSignature);
            }
            Vec::new()
        } else if body.is_empty() {
            Vec::new()
        } else {
            return Err(VerifyError::UnsupportedScheme {
                detail: "a body that is neither form-encoded nor covered by bodySHA256",
            });
        };
        let mut sorted: Vec<&Param<'_>> = params.iter().collect();
        sorted.sort();
        for candidate_url in
            iter::once(Cow::Borrowed(url)).chain(toggle_default_port(url).map(Cow::Owned))
        {
            let content: Vec<&[u8]> = iter::once(candidate_url.as_bytes())
                .chain(sorted.iter().flat_map(|(k, v)| [&**k, &**v]))
                .collect();
            match mac::find_key(
                self.keys.iter().enumerate(),
                Encoding::Base64,
                &content,
                &iter::once(signature.as_bytes()),
            ) {
                Ok(index) => return Ok(Verified::new(None, None, index)),
                Err(VerifyError::InvalidSignature) => {}
                Err(other) => return Err(other),
            }
        }
        Err(VerifyError::InvalidSignature)
    }

    /// The `X-Twilio-Signature` value for a request to `url` whose body is
    /// the form encoding `form_body` (empty for none), signed with the first
    /// auth token.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidPayload`] for a body that is not form encoding,
    /// [`VerifyError::InvalidSecret`] if the token cannot be used.
    pub fn sign(&self, url: &str, form_body: &[u8]) -> Result<String, VerifyError> {
        let key = self.keys.first().ok_or(SecretError::Empty)?;
        let mut params = form::parse(form_body)?;
        params.sort();
        let content: Vec<&[u8]> = iter::once(url.as_bytes())
            .chain(params.iter().flat_map(|(k, v)| [&**k, &**v]))
            .collect();
        let tag = key.compute(&content);
        Ok(encoding::base64(tag.as_bytes()))
    }
}

/// The raw value of the first query parameter `name`.
fn query_param<'u>(url: &'u str, name: &str) -> Option<&'u str> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The same URL with its default port removed if explicit, or added if
/// absent; `None` for URLs that are not plain http(s).
fn toggle_default_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let port = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else if scheme.eq_ignore_ascii_case("http") {
        "80"
    } else {
        return None;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let (userinfo, host_port) = authority.split_at(host_start);
    // The port separator is the last ':' after any IPv6 literal's ']'.
    let after_literal = host_port.rfind(']').map_or(0, |i| i + 1);
    let host_port_new = match host_port[after_literal..].rfind(':') {
        Some(i) => {
            let (host, explicit) = host_port.split_at(after_literal + i);
            if &explicit[1..] != port {
                return None;
            }
            host.to_owned()
        }
        None => format!("{host_port}:{port}"),
    };
    Some(format!("{scheme}://{userinfo}{host_port_new}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_port_is_toggled_both_ways() {
        assert_eq!(
            toggle_default_port("https://a.example:443/x?y=1").as_deref(),
            Some("https://a.example/x?y=1")
        );
        assert_eq!(
            toggle_default_port("https://u:p@a.example/x").as_deref(),
            Some("https://u:p@a.example:443/x")
        );
        assert_eq!(
            toggle_default_port("http://[::1]:80").as_deref(),
            Some("http://[::1]")
        );
        assert_eq!(toggle_default_port("https://a.example:8443/x"), None);
        assert_eq!(toggle_default_port("ftp://a.example/x"), None);
    }

    #[test]
    fn query_param_ignores_fragment() {
        assert_eq!(
            query_param("https://x/?a=1&bodySHA256=ab#f", "bodySHA256"),
            Some("ab")
        );
        assert_eq!(query_param("https://x/", "bodySHA256"), None);
    }
}
