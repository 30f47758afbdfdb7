//! Update a CRM record when a recipient clicks: an HTTP call from a worker,
//! retried when the CRM fails.
//!
//! Deliveries are handed off to a durable SQLite queue and answered at
//! once; a worker takes each click and `POST`s it to the CRM (here a
//! stand-in server on 127.0.0.1 that fails its first request, as a CRM
//! does during a deploy). The failed call is an error from the handler, so
//! the worker retries it after a backoff; the provider's redelivery of a
//! click is a duplicate and never reaches the CRM twice. The CRM call
//! carries the event's idempotency key (`Idempotency-Key`), so a click
//! retried after the CRM had in fact applied it is recognised there too.
//!
//! Run: `cargo run --example crm_on_click --features sqlite`

use std::sync::{Arc, Mutex};
use std::time::Duration;

use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::postmark::PostmarkVerifier;
use email_webhooks::provider::{Provider, Settings, Simulation};
use email_webhooks::queue::SqliteQueue;
use email_webhooks::worker::{Backoff, Worker};
use email_webhooks::{BasicAuth, EmailEvent, EventKind, Request};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// What the stand-in CRM received: (idempotency key, body) per accepted call.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A stand-in CRM: answers its first request 503, every later one 204, and
/// keeps what it accepted.
async fn crm(listener: TcpListener, received: Received) {
    let mut calls = 0;
    while let Ok((mut stream, _)) = listener.accept().await {
        calls += 1;
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then the body announced by Content-Length.
        let (head, body) = loop {
            let Ok(n) = stream.read(&mut buf).await else {
                break (String::new(), String::new());
            };
            if n == 0 {
                break (String::new(), String::new());
            }
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    break (head.to_owned(), body.to_owned());
                }
            }
        };
        let key = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("idempotency-key: ")
                    .or_else(|| l.strip_prefix("Idempotency-Key: "))
            })
            .unwrap_or_default()
            .to_owned();
        let status = if calls == 1 {
            "503 Service Unavailable"
        } else {
            if let Ok(mut received) = received.lock() {
                received.push((key, body));
            }
            "204 No Content"
        };
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(answer.as_bytes()).await;
    }
}

/// The worker's handler: a click becomes a CRM update; other events are
/// not this handler's business.
async fn on_event(
    client: &reqwest::Client,
    crm_url: &str,
    event: EmailEvent,
) -> Result<(), String> {
    if event.kind != EventKind::Clicked {
        return Ok(());
    }
    let update = serde_json::json!({
        "contact": event.recipient,
        "last_click": event.click_url,
        "at": event.timestamp.map(time::OffsetDateTime::unix_timestamp),
    });
    let answer = client
        .post(crm_url)
        .header("Idempotency-Key", event.idempotency_key())
        .header("Content-Type", "application/json")
        .body(update.to_string())
        .send()
        .await
        .map_err(|e| format!("the CRM is unreachable: {e}"))?;
    if answer.status().is_success() {
        Ok(())
    } else {
        // An error: the worker retries the event after a backoff.
        Err(format!("the CRM answered {}", answer.status()))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let received: Received = Arc::default();
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let crm_url = format!("http://{}/contacts/clicks", listener.local_addr()?);
    runtime.spawn(crm(listener, Arc::clone(&received)));

    let dir = std::env::temp_dir().join(format!("email-webhooks-crm-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let queue = SqliteQueue::open(dir.join("queue.db"))?;
    let pipeline = Pipeline::new(
        PostmarkVerifier::new(BasicAuth::parse("postmark:example-password")?),
        MemoryStore::new(),
    );

    // Postmark posts two clicks, an open, and the first click again.
    let mut settings = Settings::new();
    settings.basic_auth.push("postmark:example-password".into());
    let simulate = Provider::Postmark.info().ok_or("registered")?.simulate;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // (kind, recipient, event id, seconds after now): a redelivery repeats
    // its event exactly, time included.
    let deliveries = [
        (EventKind::Clicked, "ada@example.com", "click-1", 0),
        (EventKind::Clicked, "grace@example.com", "click-2", 1),
        (EventKind::Opened, "ada@example.com", "open-1", 2),
        (EventKind::Clicked, "ada@example.com", "click-1", 0),
    ];
    for (kind, recipient, id, at) in deliveries {
        let delivery = simulate(&Simulation::new(kind, recipient, id, now + at, &settings))?;
        let request = Request::new(&delivery.headers, &delivery.body);
        let handed = runtime.block_on(pipeline.hand_off(&request, &queue))?;
        println!(
            "{:<8} {recipient:<18} answered 200: {} enqueued, {} duplicate",
            kind.as_str(),
            handed.enqueued,
            handed.duplicates
        );
    }

    let client = reqwest::Client::new();
    let report = runtime.block_on(
        Worker::new(queue)
            .with_poll_interval(Duration::from_millis(20))
            .with_backoff(Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_secs(1),
            })
            .run_until_idle(|event| on_event(&client, &crm_url, event)),
    );
    println!("\nworker: {report:?}");

    let received = received.lock().map_err(|_| "poisoned")?.clone();
    for (key, body) in &received {
        println!("CRM updated: {body} (Idempotency-Key {key})");
    }
    std::fs::remove_dir_all(&dir)?;
    // Two clicks reached the CRM once each, one of them after a retry; the
    // open and the redelivered click did not call it.
    let keys: std::collections::BTreeSet<&String> = received.iter().map(|(k, _)| k).collect();
    if received.len() == 2 && keys.len() == 2 && report.retried == 1 && report.dead_lettered == 0 {
        println!("\neach click updated the CRM once, the failed call retried");
        Ok(())
    } else {
        Err(format!(
            "unexpected: {} CRM updates, report {report:?}",
            received.len()
        )
        .into())
    }
}
