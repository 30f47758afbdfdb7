//! A webhook receiver on actix-web: one route per provider, each event
//! verified, parsed, claimed in the in-memory store, printed, and completed.
//!
//! ```sh
//! cargo run --example actix_receiver --features actix-web
//! ```
//!
//! Listens on `MAILHOOK_ADDR` (default `127.0.0.1:3000`), with the same
//! environment variables and test defaults as `examples/axum_receiver.rs`
//! (SES is left to that example: its certificate source is the same).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use mailhook::adapters::actix::{Rejection, Webhook};
use mailhook::idempotency::MemoryStore;
use mailhook::pipeline::{Pipeline, Receiver};
use mailhook::provider::mailgun::MailgunVerifier;
use mailhook::provider::postmark::PostmarkVerifier;
use mailhook::provider::resend::ResendVerifier;
use mailhook::provider::sendgrid::{SendgridPublicKey, SendgridSigner, SendgridVerifier};
use mailhook::{BasicAuth, Secret};

const TEST_RESEND_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Every route: run the pipeline, print each new event, answer its status.
async fn receive<R: Receiver + 'static>(
    pipeline: web::Data<Pipeline<R, MemoryStore>>,
    hook: Webhook,
) -> Result<HttpResponse, Rejection> {
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
    let status =
        StatusCode::from_u16(outcome.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok(HttpResponse::build(status).finish())
}

#[actix_web::main]
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

    let sendgrid = web::Data::from(Arc::new(
        Pipeline::new(SendgridVerifier::new(sendgrid_key)).with_store(store.clone()),
    ));
    let mailgun = web::Data::from(Arc::new(
        Pipeline::new(MailgunVerifier::new(Secret::from_bytes(mailgun_key)?))
            .with_store(store.clone()),
    ));
    let postmark = web::Data::from(Arc::new(
        Pipeline::new(PostmarkVerifier::new(BasicAuth::parse(&postmark_auth)?))
            .with_store(store.clone()),
    ));
    let resend = web::Data::from(Arc::new(
        Pipeline::new(ResendVerifier::new(Secret::from_standard_webhooks(
            &resend_secret,
        )?))
        .with_store(store.clone()),
    ));

    let server = HttpServer::new(move || {
        App::new()
            .app_data(sendgrid.clone())
            .app_data(mailgun.clone())
            .app_data(postmark.clone())
            .app_data(resend.clone())
            .route(
                "/webhooks/sendgrid",
                web::post().to(receive::<SendgridVerifier>),
            )
            .route(
                "/webhooks/mailgun",
                web::post().to(receive::<MailgunVerifier>),
            )
            .route(
                "/webhooks/postmark",
                web::post().to(receive::<PostmarkVerifier>),
            )
            .route(
                "/webhooks/resend",
                web::post().to(receive::<ResendVerifier>),
            )
    })
    .bind(&addr)?;
    for bound in server.addrs() {
        println!("mailhook actix-web receiver listening on http://{bound}");
    }
    server.run().await?;
    Ok(())
}
