//! The soak run: the handoff route (`/webhooks/{provider}`, axum, real HTTP
//! on loopback) and a worker on each engine (SQLite, PostgreSQL, Redis),
//! under a steady load of Mailjet batches (2,000 events a second) for a
//! bounded time, with one delivery in ten sent again (a provider's
//! redelivery) and one handling in a hundred failing (then retried). Checked at the end: every event
//! handled exactly once, every request answered 200, the worker's report
//! counting exactly the injected failures and nothing else (no dead
//! letter, no stale claim, no queue error), and the process's resident
//! memory at the start and the end (it must not grow by more than 32 MiB).
//!
//! Run as a test (`cargo test --all-features --test soak`): 10 seconds per
//! engine. The long version: `SOAK_SECONDS=300 cargo test --release
//! --all-features --test soak` (figures in the README). Needs the servers
//! of `scripts/services.sh`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation
)]

#[path = "queues/engines.rs"]
mod engines;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use email_webhooks::adapters::PublicUrl;
use email_webhooks::adapters::axum::webhooks_handoff_router;
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::Providers;
use email_webhooks::provider::mailjet::MailjetVerifier;
use email_webhooks::queue::Queue;
use email_webhooks::worker::{Backoff, Worker};
use email_webhooks::{BasicAuth, EmailEvent};

/// Events per delivery.
const BATCH: usize = 5;
/// Concurrent senders, each sending a delivery every 10 ms: 400
/// deliveries, 2,000 events a second.
const SENDERS: usize = 4;

fn main() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (sqlite, _path) = engines::sqlite();
        soak("sqlite", sqlite, seconds).await;
        soak("postgres", engines::postgres().await, seconds).await;
        soak("redis", engines::redis().await, seconds).await;
    });
}

/// The process's resident memory, in KiB (`/proc/self/status`).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// A Mailjet "Version 2" grouped delivery of `BATCH` opens, each its own
/// message.
fn delivery(run: &str, n: u64) -> String {
    let events: Vec<String> = (0..BATCH as u64)
        .map(|i| {
            let id = n * BATCH as u64 + i;
            format!(
                r#"{{"event":"open","time":1800000000,"MessageID":{},"Message_GUID":"{run}-{id}","email":"r{id}@example.com","mj_campaign_id":0,"mj_contact_id":{id},"customcampaign":"","ip":"192.0.2.1","geo":"FR","agent":"soak"}}"#,
                1_000_000 + id
            )
        })
        .collect();
    format!("[{}]", events.join(","))
}

/// One handling in a hundred fails, on its first attempt only: chosen from
/// the event's number, so that the count of injected failures is known.
fn fails_first(id: usize) -> bool {
    id % 100 == 37
}

/// Per event number, a count kept in one byte: memory fixed in advance, so
/// that the test's own bookkeeping does not hide the receiver's and the
/// worker's memory.
fn counters(events: usize) -> Arc<Vec<AtomicU8>> {
    Arc::new((0..events).map(|_| AtomicU8::new(0)).collect())
}

#[allow(clippy::too_many_lines)] // One scenario, then everything it did checked.
async fn soak<Q: Queue + Clone + 'static>(engine: &str, queue: Q, seconds: u64) {
    let run = engines::unique("soak");
    let providers = Providers::new().with(MailjetVerifier::new(BasicAuth::parse("mj:pw").unwrap()));
    let pipeline = Arc::new(Pipeline::new(providers, MemoryStore::new()));
    let router = webhooks_handoff_router(pipeline, queue.clone(), |_| {})
        .layer(axum::Extension(PublicUrl::new("http://127.0.0.1").unwrap()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/mailjet", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    // The worker: attempts and successes per event number (Mailjet's
    // `MessageID`, 1,000,000 + the number).
    let most = usize::try_from(seconds).unwrap() * 20_000 + 100_000;
    let (handled, tried) = (counters(most), counters(most));
    let stop = Arc::new(tokio::sync::Notify::new());
    let worker = {
        let (queue, handled, tried, stop) =
            (queue.clone(), handled.clone(), tried.clone(), stop.clone());
        tokio::spawn(async move {
            Worker::new(queue)
                .with_concurrency(16)
                .with_poll_interval(Duration::from_millis(20))
                .with_backoff(Backoff {
                    base: Duration::from_millis(10),
                    max: Duration::from_millis(100),
                })
                .run(
                    move |event: EmailEvent| {
                        let id = event
                            .message_id
                            .as_deref()
                            .and_then(|id| id.parse::<usize>().ok())
                            .and_then(|id| id.checked_sub(1_000_000))
                            .filter(|id| *id < tried.len())
                            .expect("an event of this run, within the counters");
                        let attempt = tried[id].fetch_add(1, Ordering::SeqCst) + 1;
                        let result = if attempt == 1 && fails_first(id) {
                            Err("injected failure")
                        } else {
                            handled[id].fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        };
                        async move { result }
                    },
                    async move { stop.notified().await },
                )
                .await
        })
    };

    // The load: distinct deliveries, one in ten sent twice.
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicU64::new(0));
    let redelivered = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(Mutex::new(Vec::<u16>::new()));
    let warm = Instant::now() + Duration::from_secs(1);
    let deadline = warm + Duration::from_secs(seconds);
    let rss_start = Arc::new(AtomicU64::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (client, url, run, next, redelivered, refused, rss_start) = (
                client.clone(),
                url.clone(),
                run.clone(),
                next.clone(),
                redelivered.clone(),
                refused.clone(),
                rss_start.clone(),
            );
            tokio::spawn(async move {
                // A steady rate the workers keep up with (a soak, not a
                // flood): each sender a delivery every 10 ms.
                let mut pace = tokio::time::interval(Duration::from_millis(10));
                pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while Instant::now() < deadline {
                    pace.tick().await;
                    if Instant::now() >= warm && rss_start.load(Ordering::SeqCst) == 0 {
                        rss_start.store(rss_kib(), Ordering::SeqCst);
                    }
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let body = delivery(&run, n);
                    let sends = if n % 10 == 9 {
                        redelivered.fetch_add(1, Ordering::SeqCst);
                        2
                    } else {
                        1
                    };
                    for _ in 0..sends {
                        let status = client
                            .post(&url)
                            .basic_auth("mj", Some("pw"))
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send()
                            .await
                            .map_or(0, |r| r.status().as_u16());
                        if status != 200 {
                            refused.lock().unwrap().push(status);
                        }
                    }
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    let deliveries = next.load(Ordering::SeqCst);
    let events = deliveries * BATCH as u64;

    assert!(
        events as usize <= most,
        "{engine}: more events than counters"
    );
    let done = || {
        handled[..events as usize]
            .iter()
            .filter(|n| n.load(Ordering::SeqCst) > 0)
            .count()
    };
    // Every event handled, then the worker stopped.
    let drain = Instant::now() + Duration::from_secs(120);
    while (done() as u64) < events {
        assert!(
            Instant::now() < drain,
            "{engine}: {} of {events} events handled",
            done()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Anything still in flight would show as a second handling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.notify_one();
    let report = worker.await.unwrap();
    server.abort();
    let rss_end = rss_kib();
    let rss_start = rss_start.load(Ordering::SeqCst);

    let refused = refused.lock().unwrap().clone();
    assert!(
        refused.is_empty(),
        "{engine}: statuses other than 200: {refused:?}"
    );
    let twice: Vec<usize> = (0..events as usize)
        .filter(|id| handled[*id].load(Ordering::SeqCst) != 1)
        .collect();
    assert!(
        twice.is_empty(),
        "{engine}: not handled exactly once: {twice:?}"
    );
    let beyond = handled[events as usize..]
        .iter()
        .any(|n| n.load(Ordering::SeqCst) != 0);
    assert!(!beyond, "{engine}: an event that was never sent handled");
    let injected = (0..events as usize).filter(|id| fails_first(*id)).count() as u64;
    assert!(
        injected > 0 || events < 300,
        "{engine}: no failure injected"
    );
    assert_eq!(
        (
            report.handled,
            report.retried,
            report.dead_lettered,
            report.stale,
            report.taken_over,
            report.queue_errors
        ),
        (events, injected, 0, 0, 0, 0),
        "{engine}: only the injected failures"
    );
    let counts = queue.counts().await.unwrap();
    assert_eq!(
        (counts.done, counts.ready, counts.running, counts.dead),
        (events, 0, 0, 0),
        "{engine}: each event done once"
    );
    assert!(
        rss_end < rss_start + 32 * 1024,
        "{engine}: resident memory grew from {rss_start} KiB to {rss_end} KiB"
    );
    println!(
        "soak {engine}: {seconds} s after 1 s of warm-up, {deliveries} deliveries ({} redelivered), {events} events ({:.0}/s), {injected} handler failures injected and retried; each event handled once; RSS {:.1} MiB at the start, {:.1} MiB at the end",
        redelivered.load(Ordering::SeqCst),
        // Sent for the warm-up second too.
        events as f64 / (seconds + 1) as f64,
        rss_start as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
}
