//! A complete [`CertificateSource`] for Amazon SNS (and so SES) over
//! `reqwest`, for a real receiver: HTTPS only, no redirects, a timeout, a
//! size limit, and transient failures reported as such so SNS retries.
//!
//! The crate never fetches anything itself (it is sans-IO); the URL handed
//! to `fetch` has already passed the strict `sns.<region>.amazonaws.com`
//! check, and the topic allowlist was checked before it. Wrap the source in
//! a verifier once and share it: its [`CertificateCache`] fetches each URL
//! once at a time, remembers failures briefly and fetches expired
//! certificates anew.
//!
//! ```sh
//! EMAIL_WEBHOOKS_SNS_TOPIC=arn:aws:sns:us-east-1:123456789012:ses-events \
//!   cargo run --example sns_certificates
//! ```
//!
//! (This example only builds the verifier; it makes no request. Pair it
//! with the route of `examples/axum_receiver.rs`.)
//!
//! [`CertificateCache`]: email_webhooks::provider::sns::CertificateCache

use std::future::Future;
use std::time::Duration;

use email_webhooks::VerifyError;
use email_webhooks::provider::ses::SesVerifier;
use email_webhooks::provider::sns::{CertificateSource, SigningCertUrl, SnsVerifier};

/// SNS signing certificates are about 2 KB of PEM; anything much larger is
/// not one.
const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

/// Fetches SNS signing certificates over HTTPS.
#[derive(Debug)]
struct HttpsCertificates {
    client: reqwest::Client,
}

impl HttpsCertificates {
    fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .https_only(true)
            // The URL was validated; a redirect would lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self { client })
    }
}

impl CertificateSource for HttpsCertificates {
    fn fetch(
        &self,
        url: &SigningCertUrl,
    ) -> impl Future<Output = Result<Vec<u8>, VerifyError>> + Send {
        let request = self.client.get(url.as_str());
        async move {
            // Network, DNS, TLS and timeout failures may pass: 503, SNS
            // retries. (SNS discards a message answered 4xx.)
            let mut response = request
                .send()
                .await
                .map_err(|_| VerifyError::CertificateUnavailable)?;
            let status = response.status();
            if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                return Err(VerifyError::CertificateUnavailable);
            }
            // No certificate at that URL (or a redirect, refused above).
            if !status.is_success() {
                return Err(VerifyError::InvalidCertificate);
            }
            if response
                .content_length()
                .is_some_and(|len| len > MAX_CERTIFICATE_BYTES as u64)
            {
                return Err(VerifyError::InvalidCertificate);
            }
            // Read in chunks, so a body without a length cannot grow past the
            // limit either.
            let mut pem = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|_| VerifyError::CertificateUnavailable)?
            {
                if pem.len() + chunk.len() > MAX_CERTIFICATE_BYTES {
                    return Err(VerifyError::InvalidCertificate);
                }
                pem.extend_from_slice(&chunk);
            }
            Ok(pem)
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = std::env::var("EMAIL_WEBHOOKS_SNS_TOPIC")
        .unwrap_or_else(|_| "arn:aws:sns:us-east-1:123456789012:ses-events".into());
    let ses = SesVerifier::new(
        SnsVerifier::new(HttpsCertificates::new()?, [topic.clone()])
            // The defaults, spelled out: 32 URLs, failures remembered 10 s.
            .with_certificate_cache(|cache| {
                cache
                    .with_capacity(32)
                    .with_failure_ttl(Duration::from_secs(10))
            }),
    );
    println!("SES verifier ready for {topic}: {ses:?}");
    Ok(())
}
