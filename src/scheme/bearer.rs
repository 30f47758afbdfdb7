//! A shared token in `Authorization: Bearer …`, for providers that send one
//! instead of signing (a token set on the webhook, or one the provider
//! fetched from your OAuth2 token endpoint).
//!
//! Tokens are kept only as SHA-256 digests (zeroized on drop) and compared
//! as digests in constant time against every configured token (rotation).
//! Any failure — no header, another scheme, a wrong token — is
//! [`VerifyError::Unauthorized`], with no detail.

use std::fmt;

use crate::digests::SecretDigests;
use crate::error::VerifyError;
use crate::headers::{self, Name};
use crate::request::Request;
use crate::scheme::Authenticate;
use crate::secret::Secret;
use crate::verified::Verified;

static AUTHORIZATION: Name = Name::from_static("authorization");

/// Accepts requests with `Authorization: Bearer <token>` for one of the
/// configured tokens.
pub struct BearerToken {
    digests: SecretDigests,
}

impl BearerToken {
    /// Accepts `token`.
    #[must_use]
    pub fn new(token: &Secret) -> Self {
        Self {
            digests: SecretDigests::new(&[token.expose()]),
        }
    }

    /// Also accepts `token` (rotation).
    #[must_use]
    pub fn with_token(mut self, token: &Secret) -> Self {
        self.digests.push(&[token.expose()]);
        self
    }
}

impl Authenticate for BearerToken {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let token = bearer_token(request)?;
        self.digests
            .position(token.as_bytes())
            .map(|index| Verified::new(None, None, index))
            .ok_or(VerifyError::Unauthorized)
    }
}

/// The token of the request's one `Authorization: Bearer …` header;
/// [`VerifyError::Unauthorized`] without one.
pub(crate) fn bearer_token<'r>(request: &Request<'r>) -> Result<&'r str, VerifyError> {
    let value = headers::optional(request.headers(), &AUTHORIZATION, &crate::Limits::default())
        .ok()
        .flatten()
        .ok_or(VerifyError::MissingCredentials)?;
    let (scheme, token) = value.split_once(' ').ok_or(VerifyError::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(VerifyError::Unauthorized);
    }
    Ok(token.trim())
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken({} tokens, [redacted])", self.digests.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(guard: &BearerToken, header: Option<&str>) -> Result<usize, VerifyError> {
        let headers: Vec<(&str, &str)> = header.map(|h| ("Authorization", h)).into_iter().collect();
        guard
            .authenticate(&Request::new(&headers, b""))
            .map(|v| v.key_index())
    }

    #[test]
    fn accepts_each_token_and_refuses_everything_else() -> Result<(), crate::SecretError> {
        let guard = BearerToken::new(&Secret::from_bytes("old-token")?)
            .with_token(&Secret::from_bytes("new-token")?);
        assert_eq!(check(&guard, Some("Bearer old-token")), Ok(0));
        assert_eq!(check(&guard, Some("bearer new-token")), Ok(1));
        // No header: missing, told apart from wrong; both `unauthorized`.
        assert_eq!(check(&guard, None), Err(VerifyError::MissingCredentials));
        assert_eq!(VerifyError::MissingCredentials.code(), "unauthorized");
        for refused in [
            Some("Bearer wrong"),
            Some("Bearer"),
            Some("Basic b2xkLXRva2Vu"),
            Some("Bearer old-token-but-longer"),
        ] {
            assert_eq!(
                check(&guard, refused),
                Err(VerifyError::Unauthorized),
                "{refused:?}"
            );
        }
        assert!(!format!("{guard:?}").contains("token\""));
        Ok(())
    }
}
