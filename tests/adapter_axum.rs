//! The axum adapter over real HTTP on 127.0.0.1: statuses, the body limit,
//! redelivery deduplication and the release-on-failure pattern.
#![cfg(feature = "axum")]
// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Router};
use base64::Engine as _;
use email_webhooks::adapters::axum::{Rejection, Webhook};
use email_webhooks::idempotency::{IdempotencyStore, MemoryStore};
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::postmark::PostmarkVerifier;
use email_webhooks::{BasicAuth, Limits};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

struct App {
    pipeline: Pipeline<PostmarkVerifier, MemoryStore>,
    handled: AtomicUsize,
    fail_next: AtomicUsize,
}

async fn postmark(State(app): State<Arc<App>>, hook: Webhook) -> Result<StatusCode, Rejection> {
    let outcome = app
        .pipeline
        .run(&hook.request(), |_event| async {
            if app.fail_next.swap(0, Ordering::SeqCst) > 0 {
                return Err("the handler failed");
            }
            app.handled.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await?;
    Ok(outcome.status())
}

async fn start(store: MemoryStore, limits: Limits) -> (String, Arc<App>) {
    let app = Arc::new(App {
        pipeline: Pipeline::new(
            PostmarkVerifier::new(BasicAuth::new("pm", "pass").unwrap()),
            store,
        ),
        handled: AtomicUsize::new(0),
        fail_next: AtomicUsize::new(0),
    });
    let router = Router::new()
        .route("/postmark", post(postmark))
        .layer(Extension(limits))
        .with_state(Arc::clone(&app));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, app)
}

/// One HTTP/1.1 POST on a fresh connection; returns the status.
async fn post_to(addr: &str, user_pass: &str, body: &[u8]) -> u16 {
    let auth = base64::engine::general_purpose::STANDARD.encode(user_pass);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /postmark HTTP/1.1\r\nhost: {addr}\r\nauthorization: Basic {auth}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) before reading the whole body.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

const BOUNCE: &[u8] = br#"{"RecordType":"Bounce","ID":99,"Type":"HardBounce","Email":"a@b.c","MessageID":"m1","BouncedAt":"2024-01-01T00:00:00Z"}"#;

#[tokio::test]
async fn a_redelivery_is_acknowledged_without_handling_it_again() {
    let (addr, app) = start(MemoryStore::new(), Limits::default()).await;
    assert_eq!(post_to(&addr, "pm:pass", BOUNCE).await, 200);
    assert_eq!(post_to(&addr, "pm:pass", BOUNCE).await, 200);
    assert_eq!(app.handled.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bad_requests_get_bare_statuses() {
    let (addr, app) = start(
        MemoryStore::new(),
        Limits::default().with_max_body_bytes(200),
    )
    .await;
    assert_eq!(post_to(&addr, "pm:wrong", BOUNCE).await, 401);
    assert_eq!(post_to(&addr, "pm:pass", b"{not json").await, 400);
    assert_eq!(post_to(&addr, "pm:pass", &[b' '; 4096]).await, 413);
    assert_eq!(app.handled.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_failed_handler_answers_500_and_the_retry_is_processed() {
    let (addr, app) = start(MemoryStore::new(), Limits::default()).await;
    app.fail_next.store(1, Ordering::SeqCst);
    assert_eq!(post_to(&addr, "pm:pass", BOUNCE).await, 500);
    assert_eq!(post_to(&addr, "pm:pass", BOUNCE).await, 200);
    assert_eq!(app.handled.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_event_held_elsewhere_answers_503() {
    let store = MemoryStore::new();
    // Another replica is handling this event right now.
    let _claim = store
        .begin("postmark:99", Duration::from_secs(60))
        .await
        .unwrap();
    let (addr, app) = start(store, Limits::default()).await;
    assert_eq!(post_to(&addr, "pm:pass", BOUNCE).await, 503);
    assert_eq!(app.handled.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unsigned_request_is_401() {
    let (addr, _) = start(MemoryStore::new(), Limits::default()).await;
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /postmark HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 401"));
}
