//! What both receiver examples share: the providers, configured from the
//! environment with test defaults, how a handled event is printed, and how
//! each delivery is logged (refusals with their code).
//!
//! | variable | what | default |
//! |---|---|---|
//! | `EMAIL_WEBHOOKS_SENDGRID_KEY` | SendGrid's verification key (base64 DER) | a key pair generated at start; its private key is printed |
//! | `EMAIL_WEBHOOKS_MAILGUN_KEY` | Mailgun's webhook signing key | `test-mailgun-signing-key` |
//! | `EMAIL_WEBHOOKS_POSTMARK_AUTH` | Postmark's basic auth, `user:password` | `postmark:test-password` |
//! | `EMAIL_WEBHOOKS_RESEND_SECRET` | Resend's `whsec_…` secret | a test secret |
//! | `EMAIL_WEBHOOKS_SNS_CERT` | a PEM file served as the SNS certificate | the test certificate in `tests/data` |
//! | `EMAIL_WEBHOOKS_SNS_TOPIC` | the one accepted SNS topic ARN | `arn:aws:sns:us-east-1:123456789012:email-webhooks-test`, the topic `email-webhooks send` uses |
//! | `EMAIL_WEBHOOKS_MAILJET_AUTH` | Mailjet's basic auth, `user:password` | `mailjet:test-password` |
//! | `EMAIL_WEBHOOKS_GETRESPONSE_SECRET` | the secret in GetResponse's webhook URL (`?secret=`) | `test-getresponse-secret` |
//! | `EMAIL_WEBHOOKS_PUBLIC_URL` | the base URL providers call | `http://` + the listening address |

use std::future::Future;

use base64::Engine as _;
use email_webhooks::adapters::{Handled, PublicUrl};
use email_webhooks::provider::getresponse::GetresponseVerifier;
use email_webhooks::provider::mailgun::MailgunVerifier;
use email_webhooks::provider::mailjet::MailjetVerifier;
use email_webhooks::provider::postmark::PostmarkVerifier;
use email_webhooks::provider::resend::ResendVerifier;
use email_webhooks::provider::sendgrid::{SendgridPublicKey, SendgridSigner, SendgridVerifier};
use email_webhooks::provider::ses::SesVerifier;
use email_webhooks::provider::sns::{CertificateSource, SigningCertUrl, SnsVerifier};
use email_webhooks::provider::{Control, Providers};
use email_webhooks::scheme::url_secret::UrlSecret;
use email_webhooks::{BasicAuth, EmailEvent, Secret, VerifyError};

const TEST_RESEND_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TEST_SNS_CERT: &[u8] = include_bytes!("../../tests/data/sns-test-cert.pem");

/// Serves one certificate for every SNS certificate URL that passed the
/// crate's checks. A real SES endpoint implements [`CertificateSource`] with
/// an HTTPS GET of the URL instead; these examples have no network.
pub(crate) struct OneCertificate(Vec<u8>);

impl CertificateSource for OneCertificate {
    fn fetch(
        &self,
        _url: &SigningCertUrl,
    ) -> impl Future<Output = Result<Vec<u8>, VerifyError>> + Send {
        std::future::ready(Ok(self.0.clone()))
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The listening address: `EMAIL_WEBHOOKS_ADDR`, default `127.0.0.1:3000`.
pub(crate) fn addr() -> String {
    env("EMAIL_WEBHOOKS_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into())
}

/// The base URL providers call: `EMAIL_WEBHOOKS_PUBLIC_URL`, default
/// `http://` + the listening address.
pub(crate) fn public_url() -> Result<PublicUrl, email_webhooks::adapters::InvalidPublicUrl> {
    PublicUrl::new(env("EMAIL_WEBHOOKS_PUBLIC_URL").unwrap_or_else(|| format!("http://{}", addr())))
}

/// Every provider, configured from the environment (see the module docs).
pub(crate) fn providers_from_env() -> Result<Providers, Box<dyn std::error::Error>> {
    let sendgrid_key = if let Some(key) = env("EMAIL_WEBHOOKS_SENDGRID_KEY") {
        SendgridPublicKey::parse(&key)?
    } else {
        let (signer, pkcs8) = SendgridSigner::generate()?;
        println!(
            "no EMAIL_WEBHOOKS_SENDGRID_KEY: generated a test key pair; sign with this PKCS#8 private key (base64):\n  {}",
            base64::engine::general_purpose::STANDARD.encode(pkcs8)
        );
        signer.public_key()?
    };
    let mailgun =
        env("EMAIL_WEBHOOKS_MAILGUN_KEY").unwrap_or_else(|| "test-mailgun-signing-key".into());
    let postmark =
        env("EMAIL_WEBHOOKS_POSTMARK_AUTH").unwrap_or_else(|| "postmark:test-password".into());
    let resend = env("EMAIL_WEBHOOKS_RESEND_SECRET").unwrap_or_else(|| TEST_RESEND_SECRET.into());
    let sns_cert = match env("EMAIL_WEBHOOKS_SNS_CERT") {
        Some(path) => std::fs::read(path)?,
        None => TEST_SNS_CERT.to_vec(),
    };
    // The topic `email-webhooks send --provider ses` publishes to.
    let sns_topic = env("EMAIL_WEBHOOKS_SNS_TOPIC")
        .unwrap_or_else(|| "arn:aws:sns:us-east-1:123456789012:email-webhooks-test".into());
    let mailjet =
        env("EMAIL_WEBHOOKS_MAILJET_AUTH").unwrap_or_else(|| "mailjet:test-password".into());
    let getresponse = env("EMAIL_WEBHOOKS_GETRESPONSE_SECRET")
        .unwrap_or_else(|| "test-getresponse-secret".into());
    Ok(Providers::new()
        .with(SendgridVerifier::new(sendgrid_key))
        .with(MailgunVerifier::new(Secret::from_bytes(mailgun)?))
        .with(PostmarkVerifier::new(BasicAuth::parse(&postmark)?))
        .with(ResendVerifier::new(Secret::from_standard_webhooks(
            &resend,
        )?))
        .with(SesVerifier::new(SnsVerifier::new(
            OneCertificate(sns_cert),
            [sns_topic],
        )))
        .with(MailjetVerifier::new(BasicAuth::parse(&mailjet)?))
        .with(GetresponseVerifier::new(UrlSecret::new(
            &Secret::from_bytes(getresponse)?,
        ))))
}

/// The handler's work in these examples: print the event.
pub(crate) fn print_event(event: &EmailEvent) {
    println!(
        "{:<8} {:<13} {:<28} {}",
        event.provider,
        event.kind.to_string(),
        event.recipient.as_deref().unwrap_or("-"),
        event.idempotency_key()
    );
}

/// The route's observer in these examples: one log line per delivery, a
/// refusal with its code (what `email-webhooks send` tells you to check).
pub(crate) fn log_delivery(handled: &Handled) {
    match handled.error_code {
        Some(code) => println!(
            "{:<11} refused {} ({code})",
            handled.provider, handled.status
        ),
        None if handled.failed > 0 => println!(
            "{:<11} {} handler failure(s): answered {} so the provider retries",
            handled.provider, handled.failed, handled.status
        ),
        None => {
            if handled.duplicates > 0 {
                println!(
                    "{:<11} {} duplicate(s) acknowledged without reprocessing",
                    handled.provider, handled.duplicates
                );
            }
            if let Some(Control::SubscriptionConfirmation { subscribe_url, .. }) = &handled.control
            {
                println!(
                    "SNS subscription confirmation: visit {} to confirm",
                    subscribe_url.as_str()
                );
            }
        }
    }
}
