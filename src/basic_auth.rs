//! A constant-time HTTP basic-auth guard, for providers that authenticate
//! with credentials in the webhook URL (`https://user:pass@host/…`) instead
//! of, or besides, a signature.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::digests::SecretDigests;
use crate::error::{SecretError, VerifyError};
use crate::headers::{self, Headers, Name};
use crate::limits::Limits;

static AUTHORIZATION: Name = Name::from_static("authorization");

/// Accepts requests whose `Authorization: Basic …` credentials match one of
/// the configured `user:password` pairs (several for rotation).
///
/// Credentials are kept only as SHA-256 digests (zeroized on drop) and
/// compared as digests in constant time against every configured pair, so
/// neither the content nor the length of a password leaks through timing.
/// Any failure — no header, another scheme, bad base64, wrong pair — is
/// [`VerifyError::Unauthorized`], with no detail.
pub struct BasicAuth {
    digests: SecretDigests,
}

impl BasicAuth {
    /// A guard accepting `user` with `password`.
    ///
    /// # Errors
    ///
    /// [`SecretError::Empty`] for an empty password, and
    /// [`SecretError::Rejected`] for a user name containing `:` (basic auth
    /// cannot carry one).
    pub fn new(user: &str, password: &str) -> Result<Self, SecretError> {
        Self::checked(user, password)?;
        Ok(Self {
            digests: SecretDigests::new(&[user.as_bytes(), b":", password.as_bytes()]),
        })
    }

    /// Parses `user:password` (the password may contain `:`).
    ///
    /// # Errors
    ///
    /// As [`BasicAuth::new`], and [`SecretError::Rejected`] without a `:`.
    pub fn parse(pair: &str) -> Result<Self, SecretError> {
        let (user, password) = pair
            .split_once(':')
            .ok_or(SecretError::Malformed("USER:PASSWORD, with a colon"))?;
        Self::new(user, password)
    }

    /// Also accepts `user` with `password` (credential rotation).
    ///
    /// # Errors
    ///
    /// As [`BasicAuth::new`].
    pub fn with_credentials(mut self, user: &str, password: &str) -> Result<Self, SecretError> {
        Self::checked(user, password)?;
        self.digests
            .push(&[user.as_bytes(), b":", password.as_bytes()]);
        Ok(self)
    }

    fn checked(user: &str, password: &str) -> Result<(), SecretError> {
        if password.is_empty() {
            return Err(SecretError::Empty);
        }
        if user.contains(':') {
            return Err(SecretError::Rejected("basic-auth user"));
        }
        Ok(())
    }

    /// Checks the request's `Authorization` header; returns which pair
    /// matched (0 for the first configured).
    ///
    /// # Errors
    ///
    /// [`VerifyError::Unauthorized`] for anything but a matching pair.
    pub fn check<H: Headers + ?Sized>(
        &self,
        headers: &H,
        limits: &Limits,
    ) -> Result<usize, VerifyError> {
        let value = headers::optional(headers, &AUTHORIZATION, limits)
            .ok()
            .flatten()
            .ok_or(VerifyError::MissingCredentials)?;
        let (scheme, encoded) = value.split_once(' ').ok_or(VerifyError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(VerifyError::Unauthorized);
        }
        let decoded = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| VerifyError::Unauthorized)?,
        );
        // `user:password`, compared whole: the digest of what was configured.
        if !decoded.contains(&b':') {
            return Err(VerifyError::Unauthorized);
        }
        self.digests
            .position(&decoded)
            .ok_or(VerifyError::Unauthorized)
    }
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BasicAuth({} credentials, [redacted])",
            self.digests.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user_pass: &str) -> [(&'static str, String); 1] {
        [(
            "Authorization",
            format!("Basic {}", STANDARD.encode(user_pass)),
        )]
    }

    #[test]
    fn accepts_configured_pairs_and_reports_which() -> Result<(), SecretError> {
        let guard = BasicAuth::new("hook", "s3cret")?.with_credentials("hook", "n3w:pass")?;
        let limits = Limits::default();
        assert_eq!(guard.check(&header("hook:s3cret"), &limits), Ok(0));
        assert_eq!(guard.check(&header("hook:n3w:pass"), &limits), Ok(1));
        Ok(())
    }

    #[test]
    fn everything_else_is_unauthorized() -> Result<(), SecretError> {
        let guard = BasicAuth::parse("hook:s3cret")?;
        let limits = Limits::default();
        let none: Vec<(&str, String)> = vec![];
        assert_eq!(
            guard.check(&none, &limits),
            Err(VerifyError::MissingCredentials)
        );
        let cases: Vec<Vec<(&str, String)>> = vec![
            header("hook:wrong").to_vec(),
            header("other:s3cret").to_vec(),
            header("hook").to_vec(),
            vec![("Authorization", "Bearer s3cret".into())],
            vec![("Authorization", "Basic !!!".into())],
            vec![("Authorization", "Basic".into())],
        ];
        for h in cases {
            assert_eq!(
                guard.check(&h, &limits),
                Err(VerifyError::Unauthorized),
                "{h:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn scheme_name_is_case_insensitive() -> Result<(), SecretError> {
        let guard = BasicAuth::new("u", "p")?;
        let h = [("authorization", format!("bAsIc {}", STANDARD.encode("u:p")))];
        assert_eq!(guard.check(&h, &Limits::default()), Ok(0));
        Ok(())
    }

    #[test]
    fn empty_password_and_colon_in_user_are_refused() {
        assert!(BasicAuth::new("u", "").is_err());
        assert!(BasicAuth::new("a:b", "p").is_err());
        assert!(BasicAuth::parse("nocolon").is_err());
    }

    #[test]
    fn debug_is_redacted() -> Result<(), SecretError> {
        let text = format!("{:?}", BasicAuth::new("hook", "s3cret")?);
        assert!(!text.contains("s3cret") && !text.contains("hook"), "{text}");
        Ok(())
    }
}
