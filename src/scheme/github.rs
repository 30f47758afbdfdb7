//! GitHub-style signatures: `X-Hub-Signature-256: sha256=<hex>`, an
//! HMAC-SHA256 of the raw body keyed with the secret's bytes.
//!
//! GitHub also sends the legacy `X-Hub-Signature: sha1=<hex>`. SHA-1 is not
//! accepted: a request that carries only the SHA-1 header is refused as
//! `unsupported_scheme`. There is no timestamp, so there is no replay window;
//! deduplicate on `X-GitHub-Delivery` (which is not signed).
//!
//! Source: <https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>.

use time::OffsetDateTime;

use crate::error::{SecretError, VerifyError};
use crate::headers::{self, Name};
use crate::scheme::hmac::{Algorithm, Encoding, HmacVerifier};
use crate::secret::Secret;
use crate::verified::Verified;

/// The header GitHub puts the SHA-256 signature in.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// The legacy SHA-1 header, never accepted.
pub const LEGACY_SHA1_HEADER: &str = "X-Hub-Signature";

static SIGNATURE_NAME: Name = Name::from_static("x-hub-signature-256");
static LEGACY_SHA1_NAME: Name = Name::from_static("x-hub-signature");

/// Verifies GitHub-style `X-Hub-Signature-256` requests.
#[derive(Debug)]
pub struct GitHubVerifier {
    inner: HmacVerifier,
}

impl GitHubVerifier {
    /// A verifier with the webhook secret, used as raw bytes.
    #[must_use]
    pub fn new(secret: Secret) -> Self {
        Self {
            inner: HmacVerifier::new(secret, SIGNATURE_HEADER, Algorithm::Sha256, Encoding::Hex)
                .with_prefix("sha256="),
        }
    }

    /// Also accepts `secret` (key rotation).
    #[must_use]
    pub fn with_secret(self, secret: Secret) -> Self {
        Self {
            inner: self.inner.with_secret(secret),
        }
    }

    /// The `X-Hub-Signature-256` header for `body`, signed with the first
    /// secret.
    ///
    /// # Errors
    ///
    /// [`SecretError`] if the secret cannot be used.
    pub fn sign(&self, body: &[u8]) -> Result<Vec<(String, String)>, SecretError> {
        self.inner.sign(None, body)
    }
}

impl crate::policy::Configure for GitHubVerifier {
    fn policy(&self) -> &crate::policy::Policy {
        self.inner.policy()
    }
    fn policy_mut(&mut self) -> &mut crate::policy::Policy {
        self.inner.policy_mut()
    }
}

impl crate::scheme::Authenticate for GitHubVerifier {
    fn authenticate<'r>(&self, request: &crate::Request<'r>) -> Result<Verified<'r>, VerifyError> {
        let headers = request.headers();
        if !headers::present(headers, &SIGNATURE_NAME)
            && headers::present(headers, &LEGACY_SHA1_NAME)
        {
            return Err(VerifyError::UnsupportedScheme {
                detail: "only the sha1 signature header is present",
            });
        }
        // No timestamp is signed, so the time is never read.
        self.inner
            .authenticate(&request.at(OffsetDateTime::UNIX_EPOCH))
    }
}

crate::scheme::verify_methods!(GitHubVerifier);
