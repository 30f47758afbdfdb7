//! A webhook receiver on axum: one route per provider, each event verified,
//! parsed, claimed in the in-memory store, printed, and completed.
//!
//! ```sh
//! cargo run --example axum_receiver --features axum
//! ```
//!
//! Listens on `EMAIL_WEBHOOKS_ADDR` (default `127.0.0.1:3000`) with the routes
//! `/webhooks/{sendgrid,mailgun,ses,postmark,resend}`. Keys come from the
//! environment, with test defaults so it runs as is (see
//! `examples/support/mod.rs`); `email-webhooks keygen` makes the SendGrid and SES
//! ones and `email-webhooks send` posts signed events to it.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use email_webhooks::adapters::axum::{Rejection, Webhook};
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::EmailProvider;

/// Every route: run the pipeline, print each new event, answer its status.
async fn receive<R: EmailProvider>(
    State(pipeline): State<Arc<Pipeline<R, MemoryStore>>>,
    hook: Webhook,
) -> Result<StatusCode, Rejection> {
    let outcome = pipeline
        .run(&hook.request(), |event| async move {
            support::print_event(&event); // your handler
            Ok::<(), std::convert::Infallible>(())
        })
        .await?;
    support::print_outcome(&outcome);
    // 200 once every event is handled or already was; 503 while one is held
    // elsewhere; 500 after a failed handler (its claim released for the retry).
    Ok(outcome.status())
}

fn route<R: EmailProvider + 'static>(path: &str, receiver: R, store: &MemoryStore) -> Router {
    let pipeline = Arc::new(Pipeline::new(receiver, store.clone()));
    Router::new()
        .route(path, post(receive::<R>))
        .with_state(pipeline)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let v = support::verifiers_from_env()?;
    let store = MemoryStore::new();
    let app = Router::new()
        .merge(route("/webhooks/sendgrid", v.sendgrid, &store))
        .merge(route("/webhooks/mailgun", v.mailgun, &store))
        .merge(route("/webhooks/ses", v.ses, &store))
        .merge(route("/webhooks/postmark", v.postmark, &store))
        .merge(route("/webhooks/resend", v.resend, &store));

    let listener = tokio::net::TcpListener::bind(support::addr()).await?;
    println!(
        "email-webhooks axum receiver listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
