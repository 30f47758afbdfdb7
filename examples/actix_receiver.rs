//! A webhook receiver on actix-web: one route, `/webhooks/{provider}`, for
//! every provider; each event verified, parsed, claimed in the in-memory
//! store, printed, and completed; each refusal logged with its code.
//!
//! ```sh
//! cargo run --example actix_receiver --features actix-web
//! ```
//!
//! Listens on `EMAIL_WEBHOOKS_ADDR` (default `127.0.0.1:3000`), configured
//! from the same environment variables and test defaults as the axum example
//! (see `examples/support/mod.rs`).

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;

use actix_web::{App, HttpServer};
use email_webhooks::adapters::actix::webhooks_resource;
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Built once at start-up; the store is a required argument.
    let pipeline = Arc::new(Pipeline::new(
        support::providers_from_env()?,
        MemoryStore::new(),
    ));
    let public_url = support::public_url()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(public_url.clone())
            .service(webhooks_resource(
                Arc::clone(&pipeline),
                |event| async move {
                    support::print_event(&event); // your handler
                    Ok::<(), std::convert::Infallible>(())
                },
                support::log_delivery,
            ))
    })
    .bind(support::addr())?;
    println!(
        "email-webhooks actix-web receiver listening on http://{}",
        support::addr()
    );
    // actix-web stops gracefully on Ctrl-C and on SIGTERM (systemd, Docker,
    // Kubernetes) by itself: requests in flight finish first.
    server.run().await?;
    Ok(())
}
