//! A webhook receiver on axum: one route, `POST /webhooks/{provider}`, for
//! every provider; each event verified, parsed, claimed in the in-memory
//! store, printed, and completed; each refusal logged with its code.
//!
//! ```sh
//! cargo run --example axum_receiver --features axum
//! ```
//!
//! Listens on `EMAIL_WEBHOOKS_ADDR` (default `127.0.0.1:3000`). Keys come
//! from the environment, with test defaults so it runs as is (see
//! `examples/support/mod.rs`); `email-webhooks keygen` makes the SendGrid
//! and SES ones and `email-webhooks send` posts signed events to it.

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;

use axum::Extension;
use email_webhooks::adapters::axum::webhooks_router;
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Built once at start-up; the store is a required argument.
    let pipeline = Arc::new(Pipeline::new(
        support::providers_from_env()?,
        MemoryStore::new(),
    ));
    let app = webhooks_router(
        pipeline,
        |event| async move {
            support::print_event(&event); // your handler
            Ok::<(), std::convert::Infallible>(())
        },
        support::log_delivery,
    )
    .layer(Extension(support::public_url()?));

    let listener = tokio::net::TcpListener::bind(support::addr()).await?;
    println!(
        "email-webhooks axum receiver listening on http://{}",
        listener.local_addr()?
    );
    // Ctrl-C or SIGTERM (systemd, Docker, Kubernetes): stop taking
    // connections, finish the requests in flight, then exit.
    axum::serve(listener, app)
        .with_graceful_shutdown(stopped())
        .await?;
    Ok(())
}

/// Resolves on Ctrl-C, or on Unix on `SIGTERM`.
async fn stopped() {
    #[cfg(unix)]
    if let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        return;
    }
    // No SIGTERM handler (or not Unix): Ctrl-C alone.
    let _ = tokio::signal::ctrl_c().await;
}
