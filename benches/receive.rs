//! End-to-end receive throughput and latency on loopback: a load run, each
//! receiving mode against the floor measured in the same run (a bare axum
//! handler that reads the body and answers 200).
//!
//! Modes: `bare`; the floors `verify`, `verify-parse` and `sqlite-floor`
//! (the least any correct receiver adds, see `router`); `run`
//! (`Pipeline::run` in a bare handler, in-memory store); `pipeline` (the
//! `/webhooks/{provider}` route, handler in the request, in-memory store),
//! `sqlite`, `postgres`, `redis` (durable handoff; the last two need
//! `EMAIL_WEBHOOKS_TEST_POSTGRES_URL` / `EMAIL_WEBHOOKS_TEST_REDIS_URL`, as
//! `source scripts/services.sh` exports, and are skipped without them).
//! Every request is a distinct Resend event (Standard Webhooks HMAC signed
//! by the load generator), so nothing is a duplicate.
//!
//! ```sh
//! source scripts/services.sh
//! cargo bench --bench receive --features axum,sqlite,redis,postgres
//! # BENCH_SECONDS=30 (per mode), BENCH_CONNECTIONS=32, BENCH_MODES=bare,pipeline
//! ```
//!
//! The server runs on one Tokio worker thread and the load generator on
//! another, so each has a core of a 2-core machine; the ratios, not the
//! absolute numbers, are what carries over.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::Bytes;
use axum::routing::post;
use email_webhooks::Secret;
use email_webhooks::adapters::axum::{PublicUrl, webhooks_handoff_router, webhooks_router};
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::Providers;
use email_webhooks::provider::resend::ResendVerifier;
use email_webhooks::queue::Queue;
use email_webhooks::scheme::standard::StandardWebhooksSigner;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn providers() -> Providers {
    Providers::new().with(ResendVerifier::new(
        Secret::from_standard_webhooks(SECRET).unwrap(),
    ))
}

fn pipeline() -> Arc<Pipeline<Providers, MemoryStore>> {
    Arc::new(Pipeline::new(providers(), MemoryStore::new()))
}

fn with_url(router: axum::Router) -> axum::Router {
    router.layer(Extension(PublicUrl::new("http://127.0.0.1").unwrap()))
}

fn handoff<Q: Queue + Clone + 'static>(queue: Q) -> axum::Router {
    with_url(webhooks_handoff_router(pipeline(), queue, |_| {}))
}

async fn router(mode: &str, dir: &std::path::Path) -> Option<axum::Router> {
    Some(match mode {
        // The floor: the framework reading the body and answering.
        "bare" => axum::Router::new().route(
            "/webhooks/{provider}",
            post(|body: Bytes| async move {
                std::hint::black_box(body.len());
                axum::http::StatusCode::OK
            }),
        ),
        // Floors for a correct receiver: the least work any of them must
        // add to `bare`. `verify` checks the Standard Webhooks signature
        // (HMAC-SHA256 over id.timestamp.body, constant-time compare of the
        // decoded signature) with the `hmac` crate directly; `verify-parse`
        // also parses the body into a `serde_json::Value`. Neither has an
        // idempotency store, a replay window or a typed model.
        "verify" => axum::Router::new().route(
            "/webhooks/{provider}",
            post(|headers: axum::http::HeaderMap, body: Bytes| async move {
                floor_status(floor_verify(&headers, &body))
            }),
        ),
        "verify-parse" => axum::Router::new().route(
            "/webhooks/{provider}",
            post(|headers: axum::http::HeaderMap, body: Bytes| async move {
                let parsed = floor_verify(&headers, &body)
                    && serde_json::from_slice::<serde_json::Value>(&body)
                        .is_ok_and(|value| std::hint::black_box(value).is_object());
                floor_status(parsed)
            }),
        ),
        // The floor of a durable handoff to SQLite: no verification or
        // parsing, a two-column table (the key unique, as deduplication
        // needs), WAL with `synchronous=FULL`, and one writer thread that
        // commits every insert waiting at once; each request is answered
        // after its commit.
        "sqlite-floor" => {
            let writer = sqlite_floor(&dir.join(format!("floor-{}.db", std::process::id())));
            axum::Router::new().route(
                "/webhooks/{provider}",
                post(move |headers: axum::http::HeaderMap, body: Bytes| {
                    let writer = writer.clone();
                    async move {
                        let key = headers
                            .get("svix-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        let (answer, committed) = tokio::sync::oneshot::channel();
                        writer.send((key, body, answer)).unwrap();
                        floor_status(committed.await.unwrap_or(false))
                    }
                }),
            )
        }
        // `Pipeline::run` on its own, with the memory store: the typed
        // verification, replay window, parsing, claim and completion,
        // without the route's bookkeeping (provider lookup by name, rate
        // limit, summary).
        "run" => {
            let pipeline = Arc::new(Pipeline::new(
                ResendVerifier::new(Secret::from_standard_webhooks(SECRET).unwrap()),
                MemoryStore::new(),
            ));
            axum::Router::new().route(
                "/webhooks/{provider}",
                post(move |headers: axum::http::HeaderMap, body: Bytes| {
                    let pipeline = pipeline.clone();
                    async move {
                        let request = email_webhooks::Request::new(&headers, &body);
                        let result = pipeline
                            .run(&request, |event| async move {
                                std::hint::black_box(event);
                                Ok::<(), std::convert::Infallible>(())
                            })
                            .await;
                        pipeline.reply(&result).status
                    }
                }),
            )
        }
        "pipeline" => with_url(webhooks_router(
            pipeline(),
            |event| async move {
                std::hint::black_box(event);
                Ok::<(), std::convert::Infallible>(())
            },
            |_| {},
        )),
        "sqlite" => handoff(
            email_webhooks::queue::SqliteQueue::open(
                dir.join(format!("queue-{}.db", std::process::id())),
            )
            .unwrap(),
        ),
        "postgres" => {
            let url = std::env::var("EMAIL_WEBHOOKS_TEST_POSTGRES_URL").ok()?;
            let queue = email_webhooks::queue::PostgresQueue::connect(&url).unwrap();
            queue.create_table().await.unwrap();
            handoff(queue)
        }
        "redis" => {
            let url = std::env::var("EMAIL_WEBHOOKS_TEST_REDIS_URL").ok()?;
            let client = redis::Client::open(url).unwrap();
            let prefix = format!("bench-{}:", std::process::id());
            handoff(
                email_webhooks::queue::RedisQueue::connect(&client)
                    .await
                    .unwrap()
                    .with_prefix(prefix),
            )
        }
        other => panic!("unknown mode {other}"),
    })
}

/// An insert waiting for the floor writer's next commit.
type FloorInsert = (String, Bytes, tokio::sync::oneshot::Sender<bool>);

/// The `sqlite-floor` writer: group commit of minimal keyed inserts.
fn sqlite_floor(path: &std::path::Path) -> std::sync::mpsc::Sender<FloorInsert> {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS jobs (key TEXT PRIMARY KEY, body BLOB NOT NULL);",
        )
        .unwrap();
    let (send, inbox) = std::sync::mpsc::channel::<FloorInsert>();
    std::thread::spawn(move || {
        let mut connection = connection;
        while let Ok(first) = inbox.recv() {
            let mut group = vec![first];
            group.extend(inbox.try_iter().take(511));
            let tx = connection.transaction().unwrap();
            {
                let mut insert = tx
                    .prepare_cached("INSERT OR IGNORE INTO jobs (key, body) VALUES (?1, ?2)")
                    .unwrap();
                for (key, body, _) in &group {
                    insert.execute(rusqlite::params![key, &body[..]]).unwrap();
                }
            }
            let committed = tx.commit().is_ok();
            for (_, _, answer) in group {
                let _ = answer.send(committed);
            }
        }
    });
    send
}

/// The key of [`SECRET`], decoded once.
static FLOOR_KEY: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap()
});

/// The Standard Webhooks check with nothing around it (the `verify` floor).
fn floor_verify(headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
    use base64::Engine as _;
    use hmac::{KeyInit as _, Mac as _};
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header("svix-id"),
        header("svix-timestamp"),
        header("svix-signature"),
    ) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&FLOOR_KEY).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    signatures.split(' ').any(|candidate| {
        candidate.strip_prefix("v1,").is_some_and(|b64| {
            let mut decoded = [0u8; 32];
            base64::engine::general_purpose::STANDARD
                .decode_slice(b64, &mut decoded)
                .is_ok_and(|n| {
                    n == 32 && subtle::ConstantTimeEq::ct_eq(&decoded[..], &expected[..]).into()
                })
        })
    })
}

fn floor_status(ok: bool) -> axum::http::StatusCode {
    if ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNAUTHORIZED
    }
}

/// One keep-alive connection sending distinct signed events until `stop`;
/// records each request's latency in microseconds.
async fn connection(
    addr: String,
    conn: u64,
    stop: Arc<AtomicBool>,
    recording: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
) -> Vec<u32> {
    let signer = StandardWebhooksSigner::new(Secret::from_standard_webhooks(SECRET).unwrap());
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut buf = vec![0u8; 16 * 1024];
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut n: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = format!("msg_{}_{conn}_{n}", std::process::id());
        let body = format!(
            r#"{{"type":"email.delivered","created_at":"2026-12-03T10:00:00.000Z","data":{{"email_id":"{id}","to":["r{n}@example.com"],"from":"a@example.com","subject":"Hello"}}}}"#
        );
        let signature = signer.sign(&id, now, body.as_bytes()).unwrap();
        let request = format!(
            "POST /webhooks/resend HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nsvix-id: {id}\r\nsvix-timestamp: {now}\r\nsvix-signature: {signature}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let started = Instant::now();
        stream.write_all(request.as_bytes()).await.unwrap();
        // Read one response: headers, then content-length bytes.
        let mut filled = 0;
        let status = loop {
            let read = stream.read(&mut buf[filled..]).await.unwrap();
            assert!(read > 0, "the server closed the connection");
            filled += read;
            let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = std::str::from_utf8(&buf[..end]).unwrap().to_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while filled < end + 4 + length {
                filled += stream.read(&mut buf[filled..]).await.unwrap();
            }
            break head.split_whitespace().nth(1).unwrap_or("0").to_owned();
        };
        if status != "200" {
            failures.fetch_add(1, Ordering::Relaxed);
        }
        if recording.load(Ordering::Relaxed) {
            latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
    }
    latencies
}

struct Run {
    mode: String,
    rps: f64,
    /// The server thread's CPU time per request, in µs (NaN where the
    /// system does not say).
    cpu_us: f64,
    p50: u32,
    p99: u32,
    max: u32,
    failures: u64,
}

/// The CPU time (ns) of the runtime's one worker thread so far, read on
/// that thread (`/proc/thread-self/schedstat`; Linux only).
async fn server_rt_cpu(handle: &tokio::runtime::Handle) -> Option<u64> {
    handle
        .spawn(async {
            std::fs::read_to_string("/proc/thread-self/schedstat")
                .ok()?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .await
        .ok()
        .flatten()
}

fn run(mode: &str, seconds: u64, connections: u64, dir: &std::path::Path) -> Option<Run> {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("server")
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load")
        .enable_all()
        .build()
        .unwrap();
    let router = server_rt.block_on(router(mode, dir))?;
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = server_rt.spawn(async move { axum::serve(listener, router).await });

    let stop = Arc::new(AtomicBool::new(false));
    let recording = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            client_rt.spawn(connection(
                addr.clone(),
                c,
                stop.clone(),
                recording.clone(),
                failures.clone(),
            ))
        })
        .collect();
    // Warm up, then measure.
    std::thread::sleep(Duration::from_secs(2));
    let cpu_before = server_rt.block_on(server_rt_cpu(server_rt.handle()));
    recording.store(true, Ordering::SeqCst);
    failures.store(0, Ordering::SeqCst);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    recording.store(false, Ordering::SeqCst);
    let elapsed = started.elapsed();
    let cpu_after = server_rt.block_on(server_rt_cpu(server_rt.handle()));
    stop.store(true, Ordering::SeqCst);
    let mut latencies: Vec<u32> = client_rt.block_on(async {
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all
    });
    server.abort();
    latencies.sort_unstable();
    let at = |per_mille: usize| latencies[(latencies.len() - 1) * per_mille / 1000];
    let cpu_us = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) => (after - before) as f64 / 1000.0 / latencies.len() as f64,
        _ => f64::NAN,
    };
    Some(Run {
        mode: mode.to_owned(),
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        cpu_us,
        p50: at(500),
        p99: at(990),
        max: *latencies.last().unwrap(),
        failures: failures.load(Ordering::SeqCst),
    })
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it with no
    // flag: then only check that it starts, briefly.
    let benching = std::env::args().any(|a| a == "--bench");
    let number = |name: &str, default: u64| -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let seconds = number("BENCH_SECONDS", if benching { 30 } else { 1 });
    let connections = number("BENCH_CONNECTIONS", 32);
    let rounds = number("BENCH_ROUNDS", 1).max(1);
    let modes = std::env::var("BENCH_MODES").unwrap_or_else(|_| {
        "bare,verify,verify-parse,run,pipeline,sqlite-floor,sqlite,postgres,redis".to_owned()
    });
    let dir = std::env::temp_dir().join(format!("email-webhooks-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "receive throughput, {seconds} s per mode after 2 s of warm-up, {connections} keep-alive connections, distinct signed Resend events, {rounds} round(s)"
    );
    println!(
        "{:<12} {:>10} {:>8} {:>9} {:>9} {:>9} {:>8} {:>9} {:>10}",
        "mode", "req/s", "× bare", "p50 µs", "p99 µs", "max µs", "max×bare", "non-200", "server µs"
    );
    // Per round, each mode's run.
    let mut table: Vec<std::collections::HashMap<String, Run>> = Vec::new();
    for _ in 0..rounds {
        let mut round = std::collections::HashMap::new();
        let mut bare: Option<(f64, u32)> = None;
        for mode in modes.split(',') {
            let Some(run) = run(mode, seconds, connections, &dir) else {
                println!("{mode:<12} skipped (no server URL in the environment)");
                continue;
            };
            if run.mode == "bare" {
                bare = Some((run.rps, run.max));
            }
            let (ratio, max_ratio) = bare.map_or((f64::NAN, f64::NAN), |(rps, max)| {
                (run.rps / rps, f64::from(run.max) / f64::from(max))
            });
            println!(
                "{:<12} {:>10.0} {:>8.2} {:>9} {:>9} {:>9} {:>8.2} {:>9} {:>10.2}",
                run.mode,
                run.rps,
                ratio,
                run.p50,
                run.p99,
                run.max,
                max_ratio,
                run.failures,
                run.cpu_us
            );
            round.insert(run.mode.clone(), run);
        }
        table.push(round);
    }
    // Each path against its floor, measured in the same round: the
    // throughput ratio and the server's CPU per request ratio (floor ÷
    // path, so 1.00 is on the floor), median over the rounds.
    println!(
        "\nagainst the floors (median of {rounds} round(s); throughput, then server CPU per request)"
    );
    for (path, floor) in [
        ("run", "verify-parse"),
        ("pipeline", "verify-parse"),
        ("sqlite", "sqlite-floor"),
    ] {
        let ratios = |of: fn(&Run) -> f64, inverse: bool| -> Option<f64> {
            let mut all: Vec<f64> = table
                .iter()
                .filter_map(|round| {
                    let (p, f) = (round.get(path)?, round.get(floor)?);
                    Some(if inverse {
                        of(f) / of(p)
                    } else {
                        of(p) / of(f)
                    })
                })
                .collect();
            all.sort_by(f64::total_cmp);
            all.get(all.len() / 2).copied()
        };
        if let (Some(rps), Some(cpu)) = (ratios(|r| r.rps, false), ratios(|r| r.cpu_us, true)) {
            println!("{path:<12} ÷ {floor:<13} {rps:>6.2}x throughput {cpu:>6.2}x CPU");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
