//! What both receiver examples share: the verifiers, configured from the
//! environment with test defaults, and how a handled event is printed.
//!
//! | variable | what | default |
//! |---|---|---|
//! | `EMAIL_WEBHOOKS_SENDGRID_KEY` | SendGrid's verification key (base64 DER) | a key pair generated at start; its private key is printed |
//! | `EMAIL_WEBHOOKS_MAILGUN_KEY` | Mailgun's webhook signing key | `test-mailgun-signing-key` |
//! | `EMAIL_WEBHOOKS_POSTMARK_AUTH` | Postmark's basic auth, `user:password` | `postmark:test-password` |
//! | `EMAIL_WEBHOOKS_RESEND_SECRET` | Resend's `whsec_…` secret | a test secret |
//! | `EMAIL_WEBHOOKS_SNS_CERT` | a PEM file served as the SNS certificate | the test certificate in `tests/data` |
//! | `EMAIL_WEBHOOKS_SNS_TOPIC` | the one accepted SNS topic ARN | `arn:aws:sns:us-east-1:123456789012:email-webhooks-test`, the topic `email-webhooks send` uses |

use std::future::Future;

use base64::Engine as _;
use email_webhooks::provider::mailgun::MailgunVerifier;
use email_webhooks::provider::postmark::PostmarkVerifier;
use email_webhooks::provider::resend::ResendVerifier;
use email_webhooks::provider::sendgrid::{SendgridPublicKey, SendgridSigner, SendgridVerifier};
use email_webhooks::provider::ses::SesVerifier;
use email_webhooks::provider::sns::{CertificateSource, SigningCertUrl, SnsVerifier};
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

/// One verifier per provider.
pub(crate) struct Verifiers {
    pub(crate) sendgrid: SendgridVerifier,
    pub(crate) mailgun: MailgunVerifier,
    pub(crate) postmark: PostmarkVerifier,
    pub(crate) resend: ResendVerifier,
    pub(crate) ses: SesVerifier<OneCertificate>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The listening address: `EMAIL_WEBHOOKS_ADDR`, default `127.0.0.1:3000`.
pub(crate) fn addr() -> String {
    env("EMAIL_WEBHOOKS_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into())
}

/// The verifiers, from the environment (see the module docs).
pub(crate) fn verifiers_from_env() -> Result<Verifiers, Box<dyn std::error::Error>> {
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
    Ok(Verifiers {
        sendgrid: SendgridVerifier::new(sendgrid_key),
        mailgun: MailgunVerifier::new(Secret::from_bytes(mailgun)?),
        postmark: PostmarkVerifier::new(BasicAuth::parse(&postmark)?),
        resend: ResendVerifier::new(Secret::from_standard_webhooks(&resend)?),
        ses: SesVerifier::new(SnsVerifier::new(OneCertificate(sns_cert), [sns_topic])),
    })
}

/// The handler's work in these examples: print the event.
pub(crate) fn print_event(event: &EmailEvent) {
    println!(
        "{:<8} {:<13} {:<28} {}",
        event.provider,
        format!("{:?}", event.kind).to_lowercase(),
        event.recipient.as_deref().unwrap_or("-"),
        event.idempotency_key()
    );
}

/// What the examples print after a request: duplicates and SNS
/// subscription confirmations.
pub(crate) fn print_outcome(outcome: &email_webhooks::pipeline::Outcome) {
    if outcome.duplicates > 0 {
        println!(
            "         ({} duplicate(s) acknowledged without reprocessing)",
            outcome.duplicates
        );
    }
    if let Some(email_webhooks::provider::Control::SubscriptionConfirmation {
        subscribe_url, ..
    }) = &outcome.control
    {
        println!(
            "SNS subscription confirmation: visit {} to confirm",
            subscribe_url.as_str()
        );
    }
}
