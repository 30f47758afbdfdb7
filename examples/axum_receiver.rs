//! A webhook receiver on axum: one route per provider, each event verified,
//! parsed, claimed in the in-memory store, printed, and completed.
//!
//! ```sh
//! cargo run --example axum_receiver --features axum
//! ```
//!
//! Listens on `MAILHOOK_ADDR` (default `127.0.0.1:3000`). Keys come from the
//! environment, with test defaults so it runs as is:
//!
//! | route | variable | default |
//! |---|---|---|
//! | `/webhooks/sendgrid` | `MAILHOOK_SENDGRID_KEY` (base64 DER public key) | a key pair generated at start; its private key is printed |
//! | `/webhooks/mailgun` | `MAILHOOK_MAILGUN_KEY` | `test-mailgun-signing-key` |
//! | `/webhooks/postmark` | `MAILHOOK_POSTMARK_AUTH` (`user:password`) | `postmark:test-password` |
//! | `/webhooks/resend` | `MAILHOOK_RESEND_SECRET` (`whsec_…`) | a test secret |
//! | `/webhooks/ses` | `MAILHOOK_SNS_CERT` (PEM file) | the test certificate in `tests/data`, served for any SNS URL |
//!
//! A real SES endpoint implements `CertificateSource` with an HTTPS client;
//! this example has no network, so it serves one certificate for every
//! (already validated) SNS certificate URL.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine as _;
use mailhook::adapters::axum::{Rejection, Webhook};
use mailhook::idempotency::MemoryStore;
use mailhook::pipeline::{Pipeline, Receiver};
use mailhook::provider::mailgun::MailgunVerifier;
use mailhook::provider::postmark::PostmarkVerifier;
use mailhook::provider::resend::ResendVerifier;
use mailhook::provider::sendgrid::{SendgridPublicKey, SendgridSigner, SendgridVerifier};
use mailhook::provider::ses::SesVerifier;
use mailhook::provider::sns::{CertificateSource, SigningCertUrl, SnsVerifier};
use mailhook::{BasicAuth, Secret, VerifyError};

const TEST_RESEND_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TEST_SNS_CERT: &[u8] = include_bytes!("../tests/data/sns-test-cert.pem");

/// Serves one certificate for every validated SNS certificate URL.
struct OneCertificate(Vec<u8>);

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

/// Every route: run the pipeline, print each new event, answer its status.
async fn receive<R: Receiver>(
    State(pipeline): State<Arc<Pipeline<R, MemoryStore>>>,
    hook: Webhook,
) -> Result<StatusCode, Rejection> {
    let outcome = pipeline
        .run(hook.request(), |event| async move {
            println!(
                "{:<8} {:<13} {:<28} {}",
                event.provider,
                format!("{:?}", event.kind).to_lowercase(),
                event.recipient.as_deref().unwrap_or("-"),
                event.idempotency_key()
            );
            Ok::<(), std::convert::Infallible>(())
        })
        .await?;
    if outcome.duplicates > 0 {
        println!(
            "         ({} duplicate(s) acknowledged without reprocessing)",
            outcome.duplicates
        );
    }
    if let Some(url) = &outcome.subscribe_url {
        println!("SNS subscription confirmation: visit {url} to confirm");
    }
    Ok(StatusCode::from_u16(outcome.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
}

fn route<R: Receiver + 'static>(path: &str, receiver: R, store: &MemoryStore) -> Router {
    let pipeline = Arc::new(Pipeline::new(receiver).with_store(store.clone()));
    Router::new()
        .route(path, post(receive::<R>))
        .with_state(pipeline)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = env("MAILHOOK_ADDR").unwrap_or_else(|| "127.0.0.1:3000".into());
    let store = MemoryStore::new();

    let sendgrid_key = if let Some(key) = env("MAILHOOK_SENDGRID_KEY") {
        SendgridPublicKey::parse(&key)?
    } else {
        let (signer, pkcs8) = SendgridSigner::generate()?;
        println!(
            "no MAILHOOK_SENDGRID_KEY: generated a test key pair; sign with this PKCS#8 private key (base64):\n  {}",
            base64::engine::general_purpose::STANDARD.encode(pkcs8)
        );
        signer.public_key()?
    };
    let mailgun_key =
        env("MAILHOOK_MAILGUN_KEY").unwrap_or_else(|| "test-mailgun-signing-key".into());
    let postmark_auth =
        env("MAILHOOK_POSTMARK_AUTH").unwrap_or_else(|| "postmark:test-password".into());
    let resend_secret = env("MAILHOOK_RESEND_SECRET").unwrap_or_else(|| TEST_RESEND_SECRET.into());
    let sns_cert = match env("MAILHOOK_SNS_CERT") {
        Some(path) => std::fs::read(path)?,
        None => TEST_SNS_CERT.to_vec(),
    };

    let app = Router::new()
        .merge(route(
            "/webhooks/sendgrid",
            SendgridVerifier::new(sendgrid_key),
            &store,
        ))
        .merge(route(
            "/webhooks/mailgun",
            MailgunVerifier::new(Secret::from_bytes(mailgun_key)?),
            &store,
        ))
        .merge(route(
            "/webhooks/postmark",
            PostmarkVerifier::new(BasicAuth::parse(&postmark_auth)?),
            &store,
        ))
        .merge(route(
            "/webhooks/resend",
            ResendVerifier::new(Secret::from_standard_webhooks(&resend_secret)?),
            &store,
        ))
        .merge(route(
            "/webhooks/ses",
            SesVerifier::new(SnsVerifier::new(OneCertificate(sns_cert))),
            &store,
        ));

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "mailhook axum receiver listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
