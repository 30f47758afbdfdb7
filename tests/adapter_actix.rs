//! The actix-web adapter over real HTTP on 127.0.0.1: statuses, the body
//! limit, redelivery deduplication and the release-on-failure pattern.
#![cfg(feature = "actix-web")]
// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use email_webhooks::adapters::actix::{Rejection, Webhook};
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::postmark::PostmarkVerifier;
use email_webhooks::{BasicAuth, Limits};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

struct Counters {
    handled: AtomicUsize,
    fail_next: AtomicUsize,
}

async fn postmark(
    pipeline: web::Data<Pipeline<PostmarkVerifier, MemoryStore>>,
    counters: web::Data<Counters>,
    hook: Webhook,
) -> Result<HttpResponse, Rejection> {
    let outcome = pipeline
        .run(&hook.request(), |_event| async {
            if counters.fail_next.swap(0, Ordering::SeqCst) > 0 {
                return Err("the handler failed");
            }
            counters.handled.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await?;
    Ok(HttpResponse::build(StatusCode::from_u16(outcome.status().as_u16()).unwrap()).finish())
}

fn start(limits: Limits) -> (String, web::Data<Counters>) {
    let pipeline = web::Data::new(Pipeline::new(
        PostmarkVerifier::new(BasicAuth::new("pm", "pass").unwrap()),
        MemoryStore::new(),
    ));
    let counters = web::Data::new(Counters {
        handled: AtomicUsize::new(0),
        fail_next: AtomicUsize::new(0),
    });
    let shared = counters.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(pipeline.clone())
            .app_data(shared.clone())
            .app_data(limits)
            .route("/postmark", web::post().to(postmark))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0].to_string();
    actix_web::rt::spawn(server.run());
    (addr, counters)
}

async fn post_to(addr: &str, user_pass: &str, body: &[u8]) -> u16 {
    let auth = base64::engine::general_purpose::STANDARD.encode(user_pass);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /postmark HTTP/1.1\r\nhost: {addr}\r\nauthorization: Basic {auth}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
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

#[actix_web::test]
async fn a_redelivery_is_acknowledged_without_handling_it_again() {
    let (addr, counters) = start(Limits::default());
    assert_eq!(post_to(&addr, "pm:pass", BOUNCE).await, 200);
    assert_eq!(post_to(&addr, "pm:pass", BOUNCE).await, 200);
    assert_eq!(counters.handled.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn bad_requests_get_bare_statuses() {
    let (addr, counters) = start(Limits::default().with_max_body_bytes(200));
    assert_eq!(post_to(&addr, "pm:wrong", BOUNCE).await, 401);
    assert_eq!(post_to(&addr, "pm:pass", b"{not json").await, 400);
    assert_eq!(post_to(&addr, "pm:pass", &[b' '; 4096]).await, 413);
    assert_eq!(counters.handled.load(Ordering::SeqCst), 0);
}

#[actix_web::test]
async fn a_failed_handler_answers_500_and_the_retry_is_processed() {
    let (addr, counters) = start(Limits::default());
    counters.fail_next.store(1, Ordering::SeqCst);
    assert_eq!(post_to(&addr, "pm:pass", BOUNCE).await, 500);
    assert_eq!(post_to(&addr, "pm:pass", BOUNCE).await, 200);
    assert_eq!(counters.handled.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn an_unsigned_request_is_401() {
    use email_webhooks::provider::resend::ResendVerifier;
    async fn resend(
        pipeline: web::Data<Pipeline<ResendVerifier, MemoryStore>>,
        hook: Webhook,
    ) -> Result<HttpResponse, Rejection> {
        let outcome = pipeline
            .run(&hook.request(), |_| async { Ok::<(), ()>(()) })
            .await?;
        Ok(HttpResponse::build(StatusCode::from_u16(outcome.status().as_u16()).unwrap()).finish())
    }
    let secret =
        email_webhooks::Secret::from_standard_webhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
    let pipeline = web::Data::new(Pipeline::new(
        ResendVerifier::new(secret),
        MemoryStore::new(),
    ));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(pipeline.clone())
            .route("/resend", web::post().to(resend))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0].to_string();
    actix_web::rt::spawn(server.run());
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /resend HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    assert!(
        String::from_utf8_lossy(&response).starts_with("HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&response)
    );
}
