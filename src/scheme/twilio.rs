//! Twilio-style signatures: `X-Twilio-Signature: <base64>`, an HMAC-SHA1
//! (keyed with the auth token) of the full public URL followed by every form
//! parameter's name and value, sorted by name.
//!
//! - What is signed is decided by the signed URL, never by an unsigned
//!   header: a URL with a `bodySHA256` query parameter covers the body by
//!   its hex SHA-256 (JSON bodies) and signs no parameters; otherwise the
//!   body is read as form parameters (`application/x-www-form-urlencoded`)
//!   whatever the `Content-Type`, and the decoded parameters are signed. So
//!   a JSON request's signature cannot be replayed as a form, or the
//!   reverse.
//! - Form parameters are counted against [`Limits::max_form_params`](crate::Limits::max_form_params) before
//!   anything is allocated, and streamed into the MAC as they are decoded:
//!   no copy of any parameter.
//! - The URL must be the one Twilio called, which the caller knows; nothing
//!   is read from `Host` or `X-Forwarded-*`. It is tried as given and, as
//!   Twilio's SDKs do, with its port removed (any port) or the default port
//!   added, so a request through a port mapping is not refused.
//!
//! There is no timestamp, so there is no replay window.
//!
//! Source: <https://www.twilio.com/docs/usage/webhooks/webhooks-security>.

use std::borrow::Cow;
use std::iter;

use sha2::Digest as _;

use crate::encoding;
use crate::error::{SecretError, VerifyError};
use crate::form::{self, Pair};
use crate::headers::{self, Headers, Name};
use crate::mac::{self, Algorithm, Encoding, MacKey, MacOutput};
use crate::policy::{Policy, configure_via_field};
use crate::secret::Secret;
use crate::verified::Verified;

/// The header Twilio puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// The query parameter that carries a JSON body's SHA-256.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

static SIGNATURE_NAME: Name = Name::from_static("x-twilio-signature");

/// Verifies Twilio-style requests.
#[derive(Debug)]
pub struct TwilioVerifier {
    keys: Vec<MacKey>,
    policy: Policy,
}

impl TwilioVerifier {
    /// A verifier with the account's auth token, used as raw bytes.
    #[must_use]
    pub fn new(auth_token: Secret) -> Self {
        Self {
            keys: vec![MacKey::new(Algorithm::Sha1, auth_token)],
            policy: Policy::default(),
        }
    }

    /// Also accepts `auth_token` (key rotation).
    #[must_use]
    pub fn with_secret(mut self, auth_token: Secret) -> Self {
        self.keys.push(MacKey::new(Algorithm::Sha1, auth_token));
        self
    }

    /// Verifies a request that Twilio sent to the public `url`.
    ///
    /// What is signed is decided by the signed URL alone, never by an
    /// unsigned header: with a `bodySHA256` query parameter the body's
    /// SHA-256 must match it and no parameters are signed (JSON bodies);
    /// without one the body is read as form parameters, whatever its
    /// `Content-Type` says. The URL is tried as given, then with its port
    /// removed (any port) or, without one, with the scheme's default port
    /// added, as Twilio's SDKs do.
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
        self.policy.limits.check_body(body)?;
        let signature = headers::required(headers, &SIGNATURE_NAME, &self.policy.limits)?;
        let mut params = if let Some(expected) = query_param(url, BODY_SHA256_PARAM) {
            let actual = encoding::hex(&sha2::Sha256::digest(body));
            if !actual.eq_ignore_ascii_case(expected) {
                return Err(VerifyError::InvalidSignature);
            }
            Vec::new()
        } else {
            form::pairs(body, &self.policy.limits)?
        };
        params.sort_by(Pair::cmp_decoded);
        for candidate_url in url_variants(url) {
            match mac::find_key_with(
                self.keys.iter().enumerate(),
                Encoding::Base64,
                &iter::once(signature.as_bytes()),
                |key| signed_mac(key, &candidate_url, &params),
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
        let mut params = form::pairs(form_body, &self.policy.limits)?;
        params.sort_by(Pair::cmp_decoded);
        Ok(encoding::base64(signed_mac(key, url, &params).as_bytes()))
    }
}

/// The MAC over what Twilio signs: the URL, then each sorted parameter's
/// decoded name and value, streamed into the MAC without a copy.
pub(crate) fn signed_mac(key: &MacKey, url: &str, sorted: &[Pair<'_>]) -> MacOutput {
    key.compute_streamed(&mut |update| {
        update(url.as_bytes());
        for pair in sorted {
            form::decode_into(pair.name, update);
            form::decode_into(pair.value, update);
        }
    })
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

/// The URLs to try, in order: as given; then, for http(s) URLs, with the
/// port removed when there is one (any port: Twilio may have signed the
/// URL before a port mapping), or with the scheme's default port added when
/// there is none.
fn url_variants(url: &str) -> impl Iterator<Item = Cow<'_, str>> {
    iter::once(Cow::Borrowed(url)).chain(toggle_port(url).map(Cow::Owned))
}

/// The same URL with its port removed if explicit, or the default port
/// added if absent; `None` for URLs that are not plain http(s).
fn toggle_port(url: &str) -> Option<String> {
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
        Some(i) => host_port[..after_literal + i].to_owned(),
        None => format!("{host_port}:{port}"),
    };
    Some(format!("{scheme}://{userinfo}{host_port_new}{path}"))
}

configure_via_field!(TwilioVerifier);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_port_is_removed_and_the_default_port_added() {
        assert_eq!(
            toggle_port("https://a.example:443/x?y=1").as_deref(),
            Some("https://a.example/x?y=1")
        );
        assert_eq!(
            toggle_port("https://a.example:8443/x").as_deref(),
            Some("https://a.example/x")
        );
        assert_eq!(
            toggle_port("https://u:p@a.example/x").as_deref(),
            Some("https://u:p@a.example:443/x")
        );
        assert_eq!(
            toggle_port("http://a.example?x=1").as_deref(),
            Some("http://a.example:80?x=1")
        );
        assert_eq!(
            toggle_port("http://[::1]:80").as_deref(),
            Some("http://[::1]")
        );
        assert_eq!(
            toggle_port("http://[::1]").as_deref(),
            Some("http://[::1]:80")
        );
        assert_eq!(toggle_port("ftp://a.example/x"), None);
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
