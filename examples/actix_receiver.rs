//! A webhook receiver on actix-web: one route per provider, each event
//! verified, parsed, claimed in the in-memory store, printed, and completed.
//!
//! ```sh
//! cargo run --example actix_receiver --features actix-web
//! ```
//!
//! Listens on `EMAIL_WEBHOOKS_ADDR` (default `127.0.0.1:3000`) with the routes
//! `/webhooks/{sendgrid,mailgun,ses,postmark,resend}`, configured from the
//! same environment variables and test defaults as the axum example (see
//! `examples/support/mod.rs`).

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use email_webhooks::adapters::actix::{Rejection, Webhook};
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::EmailProvider;
use email_webhooks::provider::mailgun::MailgunVerifier;
use email_webhooks::provider::postmark::PostmarkVerifier;
use email_webhooks::provider::resend::ResendVerifier;
use email_webhooks::provider::sendgrid::SendgridVerifier;
use email_webhooks::provider::ses::SesVerifier;

/// Every route: run the pipeline, print each new event, answer its status.
async fn receive<R: EmailProvider + 'static>(
    pipeline: web::Data<Pipeline<R, MemoryStore>>,
    hook: Webhook,
) -> Result<HttpResponse, Rejection> {
    let outcome = pipeline
        .run(&hook.request(), |event| async move {
            support::print_event(&event); // your handler
            Ok::<(), std::convert::Infallible>(())
        })
        .await?;
    support::print_outcome(&outcome);
    let status = StatusCode::from_u16(outcome.status().as_u16())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok(HttpResponse::build(status).finish())
}

/// A pipeline over `receiver` as actix-web app data, sharing `store`.
fn data<R: EmailProvider>(receiver: R, store: &MemoryStore) -> web::Data<Pipeline<R, MemoryStore>> {
    web::Data::from(Arc::new(Pipeline::new(receiver, store.clone())))
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let v = support::verifiers_from_env()?;
    let store = MemoryStore::new();
    let sendgrid = data(v.sendgrid, &store);
    let mailgun = data(v.mailgun, &store);
    let ses = data(v.ses, &store);
    let postmark = data(v.postmark, &store);
    let resend = data(v.resend, &store);

    let server = HttpServer::new(move || {
        App::new()
            .app_data(sendgrid.clone())
            .app_data(mailgun.clone())
            .app_data(ses.clone())
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
                "/webhooks/ses",
                web::post().to(receive::<SesVerifier<support::OneCertificate>>),
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
    .bind(support::addr())?;
    for bound in server.addrs() {
        println!("email-webhooks actix-web receiver listening on http://{bound}");
    }
    server.run().await?;
    Ok(())
}
