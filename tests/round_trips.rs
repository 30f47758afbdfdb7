//! A whole delivery is claimed (handler in the request) or enqueued
//! (handoff) in one round trip to Redis and to PostgreSQL.
//!
//! The stores talk to the real servers `scripts/services.sh` starts, through
//! a TCP proxy on 127.0.0.1 that counts round trips: each time the client
//! speaks again after the server answered (pipelined writes count once).
#![cfg(all(feature = "redis", feature = "postgres"))]
// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use email_webhooks::Request;
use email_webhooks::idempotency::{IdempotencyStore, MemoryStore, PostgresStore, RedisStore};
use email_webhooks::pipeline::{Delivery, Incoming, Pipeline};
use email_webhooks::provider::sendgrid::{SendgridSigner, SendgridVerifier};
use email_webhooks::queue::{NewJob, PostgresQueue, Queue, RedisQueue};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const EVENTS: usize = 1_000;

/// A counting proxy to `upstream` (`host:port`); returns its address and the
/// round-trip counter.
async fn proxy(upstream: String) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let turns = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&turns);
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            // Who spoke last on this connection: 0 nobody, 1 client, 2 server.
            let last = Arc::new(AtomicU8::new(0));
            let (last_up, turns_up) = (Arc::clone(&last), Arc::clone(&counter));
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = client_read.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if last_up.swap(1, Ordering::SeqCst) != 1 {
                        turns_up.fetch_add(1, Ordering::SeqCst);
                    }
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = server_read.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    last.store(2, Ordering::SeqCst);
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, turns)
}

/// A signed SendGrid batch of `EVENTS` distinct events.
fn batch() -> (SendgridVerifier, Vec<(String, String)>, Vec<u8>) {
    let (signer, _) = SendgridSigner::generate().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let run = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let events: Vec<String> = (0..EVENTS)
        .map(|i| {
            format!(r#"{{"event":"delivered","email":"a{i}@example.com","sg_event_id":"rt-{run}-{i}","timestamp":{now}}}"#)
        })
        .collect();
    let body = format!("[{}]", events.join(",")).into_bytes();
    let headers = signer.headers(now, &body).unwrap();
    (
        SendgridVerifier::new(signer.public_key().unwrap()),
        headers,
        body,
    )
}

/// Processes the batch and returns how many round trips the claims took.
async fn claim_round_trips<S: IdempotencyStore>(store: S, turns: &AtomicUsize) -> usize {
    // Warm up: the script or statement is loaded or prepared once per
    // connection, not per delivery.
    let warm = vec![format!(
        "rt-warm-{}",
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    )];
    store
        .begin_many(&warm, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let (verifier, headers, body) = batch();
    let pipeline = Pipeline::new(verifier, store);
    let before = turns.load(Ordering::SeqCst);
    let delivery = pipeline
        .process(&Request::new(&headers, &body))
        .await
        .unwrap();
    let after = turns.load(Ordering::SeqCst);
    let Delivery::Events(events) = delivery else {
        panic!("events expected")
    };
    assert_eq!(events.len(), EVENTS);
    assert!(events.iter().all(|e| matches!(e, Incoming::New { .. })));
    after - before
}

/// Hands the batch off and returns how many round trips the enqueue took;
/// checks that the redelivery enqueues nothing new.
async fn enqueue_round_trips<Q: Queue>(queue: Q, turns: &AtomicUsize) -> usize {
    // Warm up, as above.
    let warm = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let raw = serde_json::value::RawValue::from_string("{}".to_owned()).unwrap();
    let mut event = email_webhooks::EmailEvent::new(
        email_webhooks::Provider::Sendgrid,
        email_webhooks::EventKind::Delivered,
        raw,
    );
    event.event_id = Some(format!("rt-warm-{warm}"));
    queue
        .enqueue(&[NewJob::for_event(&event).unwrap()])
        .await
        .unwrap();
    let (verifier, headers, body) = batch();
    let pipeline = Pipeline::new(verifier, MemoryStore::new());
    let request = Request::new(&headers, &body);
    let before = turns.load(Ordering::SeqCst);
    let enqueued = pipeline.hand_off(&request, &queue).await.unwrap();
    let after = turns.load(Ordering::SeqCst);
    assert_eq!((enqueued.enqueued, enqueued.duplicates), (EVENTS, 0));
    let again = pipeline.hand_off(&request, &queue).await.unwrap();
    assert_eq!((again.enqueued, again.duplicates), (0, EVENTS));
    after - before
}

/// A counting proxy before the test Redis server; its URL.
async fn redis_proxy() -> (String, Arc<AtomicUsize>) {
    let url = std::env::var("EMAIL_WEBHOOKS_TEST_REDIS_URL")
        .expect("EMAIL_WEBHOOKS_TEST_REDIS_URL is not set: run the tests through scripts/test.sh");
    let upstream = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned();
    let (addr, turns) = proxy(upstream).await;
    (format!("redis://{addr}/"), turns)
}

/// A counting proxy before the test PostgreSQL server; its configuration.
async fn postgres_proxy() -> (String, Arc<AtomicUsize>) {
    let url = std::env::var("EMAIL_WEBHOOKS_TEST_POSTGRES_URL").expect(
        "EMAIL_WEBHOOKS_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh",
    );
    // `host=127.0.0.1 port=N user=… dbname=…`: the same through the proxy.
    let port = url
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("port="))
        .expect("a port in the PostgreSQL URL");
    let (addr, turns) = proxy(format!("127.0.0.1:{port}")).await;
    let proxy_port = addr.rsplit(':').next().unwrap();
    (
        url.replace(&format!("port={port}"), &format!("port={proxy_port}")),
        turns,
    )
}

#[tokio::test]
async fn a_1000_event_batch_is_claimed_in_one_redis_round_trip() {
    let (url, turns) = redis_proxy().await;
    let client = redis::Client::open(url).unwrap();
    let store = RedisStore::connect(&client).await.unwrap();
    assert_eq!(claim_round_trips(store, &turns).await, 1);
}

#[tokio::test]
async fn a_1000_event_batch_is_claimed_in_one_postgres_round_trip() {
    let (config, turns) = postgres_proxy().await;
    let store = PostgresStore::connect(&config).unwrap();
    store.create_table().await.unwrap();
    assert_eq!(claim_round_trips(store, &turns).await, 1);
}

#[tokio::test]
async fn a_1000_event_batch_is_enqueued_in_one_redis_round_trip() {
    let (url, turns) = redis_proxy().await;
    let client = redis::Client::open(url).unwrap();
    let prefix = format!(
        "rt-{}:",
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    let queue = RedisQueue::connect(&client)
        .await
        .unwrap()
        .with_prefix(prefix);
    assert_eq!(enqueue_round_trips(queue, &turns).await, 1);
}

#[tokio::test]
async fn a_1000_event_batch_is_enqueued_in_one_postgres_round_trip() {
    let (config, turns) = postgres_proxy().await;
    let queue = PostgresQueue::connect(&config).unwrap();
    queue.create_table().await.unwrap();
    assert_eq!(enqueue_round_trips(queue, &turns).await, 1);
}
