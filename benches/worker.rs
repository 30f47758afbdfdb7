//! Worker throughput per engine: events a `Worker` claims, hands to a no-op
//! handler and completes per second, with the in-memory queue as the floor
//! measured in the same run; and the enqueue rate in deliveries of 100.
//!
//! Then the enqueue-to-handler latency per engine (p50, p99, max): single
//! events enqueued one at a time, 10-32 ms apart, to a worker idle with the
//! default 200 ms poll interval; from the enqueue's return (when a receiver
//! answers 2xx) to the handler's start. Engines that wake their workers
//! (PostgreSQL's `LISTEN`, SQLite in one process) against those that poll
//! (the in-memory queue, Redis).
//!
//! ```sh
//! source scripts/services.sh
//! cargo bench --bench worker --features sqlite,redis,postgres
//! # BENCH_EVENTS=20000 (per engine), BENCH_LATENCY_SAMPLES=300
//! ```
//!
//! PostgreSQL and Redis need `EMAIL_WEBHOOKS_TEST_POSTGRES_URL` /
//! `EMAIL_WEBHOOKS_TEST_REDIS_URL` and are skipped without them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use email_webhooks::queue::{MemoryQueue, NewJob, Queue};
use email_webhooks::worker::Worker;
use email_webhooks::{EmailEvent, EventKind, Provider};

fn jobs(run: &str, events: usize) -> Vec<Vec<NewJob>> {
    (0..events)
        .map(|i| {
            let raw = serde_json::value::RawValue::from_string(format!(
                r#"{{"event":"delivered","email":"r{i}@example.com","sg_event_id":"{run}-{i}"}}"#
            ))
            .unwrap();
            let mut event = EmailEvent::new(Provider::Sendgrid, EventKind::Delivered, raw);
            event.event_id = Some(format!("{run}-{i}"));
            event.recipient = Some(format!("r{i}@example.com"));
            NewJob::for_event(&event).unwrap()
        })
        .collect::<Vec<_>>()
        .chunks(100)
        .map(<[NewJob]>::to_vec)
        .collect()
}

/// `$body` with `$queue` bound to a fresh queue of `$engine` (a new SQLite
/// file, PostgreSQL database or Redis prefix named after `$name`); `None`
/// for a server engine without its URL in the environment.
macro_rules! with_engine {
    ($engine:expr, $dir:expr, $name:expr, |$queue:ident| $body:expr) => {{
        let unique = format!("{}_{}", $name, std::process::id());
        match $engine {
            "memory" => {
                let $queue = MemoryQueue::new();
                Some($body)
            }
            "sqlite" => {
                let $queue =
                    email_webhooks::queue::SqliteQueue::open($dir.join(format!("{unique}.db")))
                        .unwrap();
                Some($body)
            }
            "postgres" => {
                let url = std::env::var("EMAIL_WEBHOOKS_TEST_POSTGRES_URL").ok()?;
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                client
                    .batch_execute(&format!("CREATE DATABASE {unique}"))
                    .await
                    .unwrap();
                let $queue = email_webhooks::queue::PostgresQueue::connect(&format!(
                    "{url} dbname={unique}"
                ))
                .unwrap();
                $queue.create_table().await.unwrap();
                Some($body)
            }
            _ => {
                let url = std::env::var("EMAIL_WEBHOOKS_TEST_REDIS_URL").ok()?;
                let client = redis::Client::open(url).unwrap();
                let $queue = email_webhooks::queue::RedisQueue::connect(&client)
                    .await
                    .unwrap()
                    .with_prefix(format!("{unique}:"));
                Some($body)
            }
        }
    }};
}

/// Enqueues then drains; events per second for each.
async fn measure<Q: Queue>(queue: Q, events: usize) -> (f64, f64) {
    let run = format!("w{}", std::process::id());
    let deliveries = jobs(&run, events);
    let started = Instant::now();
    for delivery in &deliveries {
        queue.enqueue(delivery).await.unwrap();
    }
    let enqueue = events as f64 / started.elapsed().as_secs_f64();
    eprintln!("enqueued at {enqueue:.0}/s");
    let started = Instant::now();
    let report = Worker::new(&queue)
        .with_concurrency(32)
        .with_poll_interval(Duration::from_millis(5))
        .run_until_idle(|event| async move {
            std::hint::black_box(event);
            Ok::<(), std::convert::Infallible>(())
        })
        .await;
    assert_eq!(report.handled, events as u64);
    (enqueue, events as f64 / started.elapsed().as_secs_f64())
}

/// Enqueue-to-handler latencies of `samples` single events, sorted.
async fn latencies<Q: Queue>(queue: Q, samples: usize) -> Vec<Duration> {
    let run = format!("l{}", std::process::id());
    let enqueued: Mutex<HashMap<String, Instant>> = Mutex::default();
    let seen: Mutex<Vec<Duration>> = Mutex::default();
    let stop = tokio::sync::Notify::new();
    let worker = Worker::new(&queue).with_concurrency(8);
    let handler = |event: EmailEvent| {
        let at = Instant::now();
        if let Some(start) = enqueued.lock().unwrap().get(&event.idempotency_key()) {
            seen.lock().unwrap().push(at - *start);
        }
        async { Ok::<(), std::convert::Infallible>(()) }
    };
    let feed = async {
        // Idle first (a listener connected, nothing to claim).
        tokio::time::sleep(Duration::from_millis(500)).await;
        for delivery in jobs(&run, samples).into_iter().flatten() {
            let key = delivery.key.clone();
            queue
                .enqueue(std::slice::from_ref(&delivery))
                .await
                .unwrap();
            enqueued.lock().unwrap().insert(key, Instant::now());
            let gap = 10 + (enqueued.lock().unwrap().len() * 7) % 23;
            tokio::time::sleep(Duration::from_millis(gap as u64)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.lock().unwrap().len() < samples && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.notify_one();
    };
    tokio::join!(worker.run(handler, stop.notified()), feed);
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    seen
}

/// The `per_mille`-th value of `sorted`, in milliseconds (nearest rank).
fn percentile(sorted: &[Duration], per_mille: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() - 1) * per_mille + 500) / 1000;
    sorted[at].as_secs_f64() * 1000.0
}

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if benching { 20_000 } else { 200 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "email-webhooks-worker-bench-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "worker throughput, {events} events per engine (enqueued in deliveries of 100), concurrency 32, no-op handler"
    );
    println!(
        "{:<10} {:>14} {:>14} {:>10}",
        "engine", "enqueue ev/s", "worker ev/s", "× memory"
    );
    let mut floor = None;
    let engines = std::env::var("BENCH_ENGINES")
        .unwrap_or_else(|_| "memory,sqlite,postgres,redis".to_owned());
    for engine in engines.split(',') {
        let result = runtime.block_on(async {
            with_engine!(engine, dir, "throughput", |queue| measure(queue, events)
                .await)
        });
        let Some((enqueue, work)) = result else {
            println!("{engine:<10} skipped (no server URL in the environment)");
            continue;
        };
        let floor = *floor.get_or_insert(work);
        println!(
            "{engine:<10} {enqueue:>14.0} {work:>14.0} {:>10.2}",
            work / floor
        );
    }
    latency_table(&runtime, &engines, &dir, benching);
    let _ = std::fs::remove_dir_all(&dir);
}

fn latency_table(
    runtime: &tokio::runtime::Runtime,
    engines: &str,
    dir: &std::path::Path,
    benching: bool,
) {
    let samples: usize = std::env::var("BENCH_LATENCY_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if benching { 300 } else { 20 });
    println!(
        "\nenqueue-to-handler latency, {samples} single events 10-32 ms apart, worker idle with the default 200 ms poll"
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10}  wake-up",
        "engine", "p50 ms", "p99 ms", "max ms"
    );
    for engine in engines.split(',') {
        let result = runtime.block_on(async {
            let wake = match engine {
                "sqlite" => "in-process notify",
                "postgres" => "LISTEN/NOTIFY",
                _ => "polls",
            };
            with_engine!(engine, dir, "latency", |queue| (
                latencies(queue, samples).await,
                wake
            ))
        });
        let Some((sorted, wake)) = result else {
            println!("{engine:<10} skipped (no server URL in the environment)");
            continue;
        };
        assert_eq!(sorted.len(), samples, "{engine}: events not handled");
        println!(
            "{engine:<10} {:>10.1} {:>10.1} {:>10.1}  {wake}",
            percentile(&sorted, 500),
            percentile(&sorted, 990),
            percentile(&sorted, 1000)
        );
    }
}
