//! Basic-auth credentials or a bearer token: how the providers that sign
//! nothing let you authenticate their deliveries (see each provider's
//! module). Each provider lets you set one
//! or the other on the webhook; a [`Credentials`] accepts the kind you
//! configured, never a request with neither.

use crate::basic_auth::BasicAuth;
use crate::error::VerifyError;
use crate::request::Request;
use crate::scheme::Authenticate;
use crate::scheme::bearer::BearerToken;
use crate::verified::Verified;

/// What an unsigned provider's deliveries must carry: the basic-auth
/// credentials of the webhook URL, or an `Authorization: Bearer` token.
/// Both compare in constant time and take several values for rotation.
#[derive(Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// `Authorization: Basic …` with one of these pairs.
    Basic(BasicAuth),
    /// `Authorization: Bearer …` with one of these tokens.
    Bearer(BearerToken),
    /// `Authorization: Bearer …` with a token your own check accepts: the
    /// tokens an OAuth2 token endpoint of yours issued (a provider that
    /// uses OAuth2 client credentials fetches one before it posts). The
    /// crate does not run the token endpoint.
    Issued(Box<dyn IssuedTokens>),
}

/// Your check of a bearer token you issued (an OAuth2 access token from
/// your token endpoint): [`Credentials::Issued`].
pub trait IssuedTokens: Send + Sync + std::fmt::Debug {
    /// Whether `token` is one you issued and is still valid. Compare in
    /// constant time (for example digests with `subtle`), and never log it.
    fn accepts(&self, token: &str) -> bool;
}

impl From<BasicAuth> for Credentials {
    fn from(auth: BasicAuth) -> Self {
        Self::Basic(auth)
    }
}

impl From<BearerToken> for Credentials {
    fn from(token: BearerToken) -> Self {
        Self::Bearer(token)
    }
}

impl Authenticate for Credentials {
    fn authenticate<'r>(&self, request: &Request<'r>) -> Result<Verified<'r>, VerifyError> {
        match self {
            Self::Basic(auth) => auth.authenticate(request),
            Self::Bearer(token) => token.authenticate(request),
            Self::Issued(check) => {
                let token = crate::scheme::bearer::bearer_token(request)?;
                if check.accepts(token) {
                    Ok(Verified::new(None, None, 0))
                } else {
                    Err(VerifyError::Unauthorized)
                }
            }
        }
    }
}

/// A provider verifier whose check is [`Credentials`]: the struct, its
/// `new`, its limits, its [`Authenticate`] and its `verify` methods, for
/// every unsigned provider at once.
macro_rules! credentials_verifier {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            credentials: $crate::scheme::credentials::Credentials,
            policy: $crate::policy::Policy,
        }

        impl $name {
            /// A verifier requiring the webhook's credentials: basic auth,
            /// or a bearer token.
            #[must_use]
            pub fn new(credentials: impl Into<$crate::scheme::credentials::Credentials>) -> Self {
                Self {
                    credentials: credentials.into(),
                    policy: $crate::policy::Policy::default(),
                }
            }
        }

        $crate::policy::configure_via_field!($name);

        impl $crate::scheme::Authenticate for $name {
            fn authenticate<'r>(
                &self,
                request: &$crate::Request<'r>,
            ) -> Result<$crate::Verified<'r>, $crate::VerifyError> {
                self.policy.limits.check_body(request.body())?;
                self.credentials.authenticate(request)
            }
        }

        $crate::scheme::verify_methods!($name);
    };
}
pub(crate) use credentials_verifier;
