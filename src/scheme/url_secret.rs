//! A secret in the webhook URL's query (`https://host/hook?secret=…`), for
//! providers that sign nothing and let you choose the URL.
//!
//! The secret travels in the URL, so it ends up in access logs of every
//! proxy on the way unless they are told otherwise; prefer a signature
//! where the provider offers one. The value is compared as a SHA-256 digest
//! in constant time against every configured secret (rotation), and never
//! printed.

use std::fmt;

use crate::digests::SecretDigests;
use crate::error::VerifyError;
use crate::request::Request;
use crate::scheme::Authenticate;
use crate::secret::Secret;
use crate::verified::Verified;

/// The default query parameter name: `secret`.
pub const DEFAULT_PARAM: &str = "secret";

/// Accepts requests whose URL carries one of the configured secrets in a
/// query parameter (default [`DEFAULT_PARAM`]).
///
/// A request without its public URL is [`VerifyError::NoPublicUrl`] (500:
/// the receiver's configuration, retried while you fix it); any other
/// failure — no parameter, a repeated parameter, a wrong value — is
/// [`VerifyError::Unauthorized`], with no detail.
pub struct UrlSecret {
    param: String,
    digests: SecretDigests,
}

impl UrlSecret {
    /// Accepts `secret` in the query parameter `secret`.
    #[must_use]
    pub fn new(secret: &Secret) -> Self {
        Self {
            param: DEFAULT_PARAM.to_owned(),
            digests: SecretDigests::new(&[secret.expose()]),
        }
    }

    /// Also accepts `secret` (rotation).
    #[must_use]
    pub fn with_secret(mut self, secret: &Secret) -> Self {
        self.digests.push(&[secret.expose()]);
        self
    }

    /// Reads the secret from query parameter `name` instead of `secret`.
    #[must_use]
    pub fn with_param_name(mut self, name: impl Into<String>) -> Self {
        self.param = name.into();
        self
    }

    /// The query parameter read.
    #[must_use]
    pub fn param_name(&self) -> &str {
        &self.param
    }
}

impl Authenticate for UrlSecret {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        if request.url().is_none() {
            return Err(VerifyError::NoPublicUrl);
        }
        let value = request
            .query_param(&self.param)
            .ok_or(VerifyError::Unauthorized)?;
        self.digests
            .position(value.as_bytes())
            .map(|index| Verified::new(None, None, index))
            .ok_or(VerifyError::Unauthorized)
    }
}

impl fmt::Debug for UrlSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UrlSecret({:?}, {} secrets, [redacted])",
            self.param,
            self.digests.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &'static str) -> Request<'static> {
        static NONE: [(&str, &str); 0] = [];
        Request::new(&NONE, b"").with_url(url)
    }

    #[test]
    fn accepts_each_configured_secret_and_reports_which() -> Result<(), crate::SecretError> {
        let guard =
            UrlSecret::new(&Secret::from_bytes("old")?).with_secret(&Secret::from_bytes("new")?);
        let index = |u| guard.authenticate(&request(u)).map(|v| v.key_index());
        assert_eq!(index("https://h/p?secret=old"), Ok(0));
        assert_eq!(index("https://h/p?a=1&secret=new"), Ok(1));
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            guard.authenticate(&Request::new(&none, b"")).err(),
            Some(VerifyError::NoPublicUrl)
        );
        for refused in [
            "https://h/p",
            "https://h/p?secret=",
            "https://h/p?secret=ol",
            "https://h/p?secret=old&secret=old",
            "https://h/p?Secret=old",
            "https://h/p?token=old",
        ] {
            assert_eq!(index(refused), Err(VerifyError::Unauthorized), "{refused}");
        }
        Ok(())
    }

    #[test]
    fn parameter_name_is_configurable_and_debug_is_redacted() -> Result<(), crate::SecretError> {
        let guard = UrlSecret::new(&Secret::from_bytes("hunter2")?).with_param_name("key");
        assert!(
            guard
                .authenticate(&request("https://h/p?key=hunter2"))
                .is_ok()
        );
        assert!(
            guard
                .authenticate(&request("https://h/p?secret=hunter2"))
                .is_err()
        );
        assert!(!format!("{guard:?}").contains("hunter2"));
        Ok(())
    }
}
