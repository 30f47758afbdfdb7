//! Web-framework integration, each behind its feature.

#[cfg(feature = "actix-web")]
pub mod actix;
#[cfg(feature = "axum")]
pub mod axum;

/// The status for an error, revealing nothing that helps an attacker: 413
/// too large, 400 malformed, 401 not proven (including unsigned: a missing
/// signature header), 503 when the store failed.
#[cfg(any(feature = "axum", feature = "actix-web"))]
fn status_for(error: &crate::Error) -> u16 {
    use crate::{Error, VerifyError};
    match error {
        Error::Verify(VerifyError::BodyTooLarge { .. }) => 413,
        Error::Verify(VerifyError::MalformedHeader { .. } | VerifyError::InvalidPayload { .. })
        | Error::Parse(_) => 400,
        Error::Store(_) => 503,
        _ => 401,
    }
}
