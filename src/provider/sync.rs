//! Providers that need no I/O to receive a delivery (every one but SES):
//! what such a provider declares, and [`sync_provider!`], which makes it an
//! [`EmailProvider`](crate::provider::EmailProvider) once for all of them.

use crate::error::ParseError;
use crate::limits::Limits;
use crate::provider::{Answer, Provider, Received, Reply};
use crate::request::Request;

/// The parts of a provider that checks and parses a delivery in memory:
/// its [`Authenticate`](crate::scheme::Authenticate) check and its
/// [`Configure`](crate::Configure) limits, its id, its parser.
pub(crate) trait SyncProvider: crate::scheme::Authenticate + crate::Configure {
    /// The registry's id.
    const ID: Provider;

    /// Parses an authenticated delivery.
    fn parse(request: &Request<'_>, limits: &Limits) -> Result<Received, ParseError>;

    /// [`EmailProvider::reply`](crate::provider::EmailProvider::reply).
    fn reply(&self, answer: Answer) -> Reply {
        Reply::standard(answer)
    }

    /// [`EmailProvider::probe`](crate::provider::EmailProvider::probe).
    fn probe(&self, method: &http::Method) -> Option<Reply> {
        let _ = method;
        None
    }
}

/// Implements `EmailProvider` for [`SyncProvider`] types: check the body
/// limit, authenticate, parse, in a ready future.
macro_rules! sync_provider {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::provider::EmailProvider for $ty {
            fn id(&self) -> $crate::Provider {
                <Self as $crate::provider::sync::SyncProvider>::ID
            }

            fn receive<'a>(
                &'a self,
                request: &'a $crate::Request<'a>,
            ) -> impl std::future::Future<Output = Result<$crate::provider::Received, $crate::Error>>
                   + Send
                   + 'a {
                std::future::ready($crate::provider::sync::receive(self, request))
            }

            fn reply(&self, answer: $crate::provider::Answer) -> $crate::provider::Reply {
                <Self as $crate::provider::sync::SyncProvider>::reply(self, answer)
            }

            fn probe(&self, method: &http::Method) -> Option<$crate::provider::Reply> {
                <Self as $crate::provider::sync::SyncProvider>::probe(self, method)
            }
        }
    )*};
}
pub(crate) use sync_provider;

/// What a [`SyncProvider`] makes of a request.
pub(crate) fn receive<P: SyncProvider>(
    provider: &P,
    request: &Request<'_>,
) -> Result<Received, crate::Error> {
    let limits = &provider.policy().limits;
    limits.check_body(request.body())?;
    let proof = provider.authenticate(request)?;
    Ok(P::parse(request, limits)?.with_proof(proof))
}
