//! Fault tests with real processes and real servers (loopback only,
//! bounded in time). This binary is its own harness: run plainly it runs
//! the scenarios below; run with `EMAIL_WEBHOOKS_FAULT_ROLE` set it is one
//! of the child processes the scenarios start and kill.
//!
//! - A worker killed with SIGKILL mid-batch, another started: every event
//!   handled, completed once, none lost (SQLite, PostgreSQL, Redis).
//! - A receiver killed after the enqueue but before it answered: the
//!   provider's redelivery is acknowledged as a duplicate and each event
//!   is handled once (SQLite, over real HTTP).
//! - Redis and PostgreSQL restarted during a run: no event lost, none
//!   handled twice.
//!
//! Retries, the dead-letter set and requeueing are in tests/queue_contract.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "queues/engines.rs"]
mod engines;

#[path = "support/http.rs"]
mod http;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use email_webhooks::queue::{NewJob, Queue, QueueCounts};
use email_webhooks::worker::Worker;
use email_webhooks::{EmailEvent, EventKind, Provider};
use http::post;

const ROLE: &str = "EMAIL_WEBHOOKS_FAULT_ROLE";
const EVENTS: usize = 60;
const CONCURRENCY: usize = 4;
/// The children's poll interval.
const POLL_MS: u64 = 50;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(role) = std::env::var(ROLE) {
        runtime.block_on(child(&role));
        return;
    }
    let started = Instant::now();
    runtime.block_on(async {
        for engine in ["sqlite", "postgres", "redis"] {
            report(
                &format!("a worker killed mid-batch ({engine})"),
                worker_killed_mid_batch(engine),
            )
            .await;
        }
        for engine in ["sqlite", "postgres", "redis"] {
            report(
                &format!("a worker killed mid-handler, its lease kept alive until then ({engine})"),
                worker_killed_mid_handler(engine),
            )
            .await;
        }
        report(
            "a worker stopped by SIGTERM (sqlite)",
            worker_stopped_by_sigterm(),
        )
        .await;
        report(
            "a receiver killed after the enqueue, before its answer",
            receiver_killed_before_answering(),
        )
        .await;
        for engine in ["postgres", "redis"] {
            report(
                &format!("{engine} restarted during a run"),
                server_restarted(engine),
            )
            .await;
        }
    });
    println!(
        "all fault scenarios passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

async fn report(name: &str, scenario: impl std::future::Future<Output = ()>) {
    let started = Instant::now();
    // A hung scenario fails instead of hanging CI.
    if tokio::time::timeout(Duration::from_secs(120), scenario)
        .await
        .is_err()
    {
        panic!("{name}: no result within 120 s");
    }
    println!("ok: {name} ({:.1} s)", started.elapsed().as_secs_f64());
}

fn event(run: &str, i: usize) -> EmailEvent {
    let raw = serde_json::value::RawValue::from_string(format!(r#"{{"n":{i}}}"#)).unwrap();
    let mut event = EmailEvent::new(Provider::Sendgrid, EventKind::Delivered, raw);
    event.event_id = Some(format!("{run}-{i}"));
    event
}

/// Where a child's queue is: the engine and how to reach it.
#[derive(Clone)]
struct Place {
    engine: &'static str,
    /// The SQLite path, the PostgreSQL configuration, or the Redis URL
    /// variable's value.
    at: String,
    /// The Redis key prefix.
    prefix: String,
}

impl Place {
    async fn new(engine: &'static str, url_var_suffix: &str) -> Self {
        match engine {
            "sqlite" => Self {
                engine,
                at: engines::sqlite().1.to_string_lossy().into_owned(),
                prefix: String::new(),
            },
            "postgres" => {
                let var = format!("EMAIL_WEBHOOKS_TEST_POSTGRES{url_var_suffix}_URL");
                let at = engines::postgres_database(&var).await;
                engines::postgres_at(&at).await;
                Self {
                    engine,
                    at,
                    prefix: String::new(),
                }
            }
            _ => Self {
                engine,
                at: engines::env(&format!("EMAIL_WEBHOOKS_TEST_REDIS{url_var_suffix}_URL")),
                prefix: format!("{}:", engines::unique("fault")),
            },
        }
    }

    fn from_env() -> Self {
        let engine = match std::env::var("FAULT_ENGINE").unwrap().as_str() {
            "sqlite" => "sqlite",
            "postgres" => "postgres",
            _ => "redis",
        };
        Self {
            engine,
            at: std::env::var("FAULT_AT").unwrap(),
            prefix: std::env::var("FAULT_PREFIX").unwrap(),
        }
    }

    fn env(&self, command: &mut Command) {
        command
            .env("FAULT_ENGINE", self.engine)
            .env("FAULT_AT", &self.at)
            .env("FAULT_PREFIX", &self.prefix);
    }
}

/// Runs `body` with the place's queue, whatever its engine.
macro_rules! with_queue {
    ($place:expr, |$q:ident| $body:expr) => {{
        let place: &Place = &$place;
        match place.engine {
            "sqlite" => {
                let $q = email_webhooks::queue::SqliteQueue::open(&place.at).unwrap();
                $body
            }
            "postgres" => {
                let $q = email_webhooks::queue::PostgresQueue::connect(&place.at).unwrap();
                $body
            }
            _ => {
                let client = redis::Client::open(place.at.as_str()).unwrap();
                let $q = email_webhooks::queue::RedisQueue::connect(&client)
                    .await
                    .unwrap()
                    .with_prefix(&place.prefix);
                $body
            }
        }
    }};
}

async fn counts(place: &Place) -> QueueCounts {
    with_queue!(place, |q| q.counts().await.unwrap())
}

fn spawn(
    role: &str,
    place: &Place,
    extra: &[(&str, &str)],
) -> (Child, std::sync::mpsc::Receiver<String>) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .env(ROLE, role)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    place.env(&mut command);
    for (k, v) in extra {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, receive)
}

/// Waits (without blocking the runtime) for a child's line starting with
/// `prefix`; returns the rest.
async fn expect_line(lines: &std::sync::mpsc::Receiver<String>, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match lines.try_recv() {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return rest.trim().to_owned();
                }
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                assert!(Instant::now() < deadline, "no {prefix:?} from the child");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                panic!("the child ended before {prefix:?}")
            }
        }
    }
}

fn lines_of(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

// --- The children ---

async fn child(role: &str) {
    let place = Place::from_env();
    match role {
        "worker" => with_queue!(place, |q| run_worker(q).await),
        "receiver" => receive(place).await,
        other => panic!("unknown role {other}"),
    }
}

/// A worker whose handler takes 20 ms and then appends the event's key to
/// `FAULT_LOG` (one `write` per line, O_APPEND: lines never interleave).
/// `FAULT_DRAIN=1`: exit once the queue is idle; else run until killed.
async fn run_worker<Q: Queue>(queue: Q) {
    let log = std::env::var("FAULT_LOG").unwrap();
    let file = Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap(),
    );
    let lease = std::env::var("FAULT_LEASE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(3), Duration::from_millis);
    let hang = std::env::var("FAULT_HANG").is_ok();
    let worker = Worker::new(queue)
        .with_concurrency(CONCURRENCY)
        .with_lease(lease)
        .with_poll_interval(Duration::from_millis(POLL_MS));
    let handler = |event: EmailEvent| {
        let file = &file;
        async move {
            if hang {
                // Running until killed, its lease kept alive meanwhile.
                println!("HANDLING {}", event.idempotency_key());
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            let line = format!("{}\n", event.idempotency_key());
            file.lock().unwrap().write_all(line.as_bytes()).unwrap();
            Ok::<(), std::io::Error>(())
        }
    };
    println!("WORKING");
    if std::env::var("FAULT_DRAIN").is_ok() {
        let report = worker.run_until_idle(handler).await;
        println!("DRAINED {} {}", report.handled, report.stale);
    } else if std::env::var("FAULT_SIGNAL").is_ok() {
        // As a service runs it: until Ctrl-C or SIGTERM.
        let report = worker
            .run(handler, email_webhooks::worker::shutdown_signal())
            .await;
        println!("STOPPED {} {}", report.handled, report.released);
    } else {
        worker.run(handler, std::future::pending()).await;
    }
}

/// A queue that, with `FAULT_PAUSE` set, stops for an hour right after an
/// enqueue succeeded: the receiver is killed there, before it answers.
#[derive(Clone)]
struct PauseAfterEnqueue<Q>(Q);

impl<Q: Queue> Queue for PauseAfterEnqueue<Q> {
    async fn enqueue(
        &self,
        jobs: &[NewJob],
    ) -> Result<Vec<bool>, email_webhooks::idempotency::StoreError> {
        let answers = self.0.enqueue(jobs).await?;
        if std::env::var("FAULT_PAUSE").is_ok() {
            println!("ENQUEUED {}", answers.iter().filter(|new| **new).count());
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Ok(answers)
    }
    async fn claim(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<email_webhooks::queue::ClaimedJob>, email_webhooks::idempotency::StoreError>
    {
        self.0.claim(max, lease).await
    }
    async fn settle(
        &self,
        job: &email_webhooks::queue::ClaimedJob,
        settlement: email_webhooks::queue::Settlement<'_>,
    ) -> Result<(), email_webhooks::idempotency::StoreError> {
        self.0.settle(job, settlement).await
    }
    async fn renew(
        &self,
        job: &email_webhooks::queue::ClaimedJob,
        lease: Duration,
    ) -> Result<(), email_webhooks::idempotency::StoreError> {
        self.0.renew(job, lease).await
    }
    async fn dead_letters(
        &self,
        limit: usize,
    ) -> Result<Vec<email_webhooks::queue::DeadLetter>, email_webhooks::idempotency::StoreError>
    {
        self.0.dead_letters(limit).await
    }
    async fn requeue(
        &self,
        keys: Option<&[String]>,
    ) -> Result<usize, email_webhooks::idempotency::StoreError> {
        self.0.requeue(keys).await
    }
    async fn counts(&self) -> Result<QueueCounts, email_webhooks::idempotency::StoreError> {
        self.0.counts().await
    }
}

/// The handoff receiver (axum, Mailjet with basic auth `mj:pw`) on the
/// place's SQLite queue; prints `LISTENING <addr>`.
async fn receive(place: Place) {
    use email_webhooks::BasicAuth;
    use email_webhooks::idempotency::MemoryStore;
    use email_webhooks::pipeline::Pipeline;
    use email_webhooks::provider::Providers;
    use email_webhooks::provider::mailjet::MailjetVerifier;
    let queue = PauseAfterEnqueue(email_webhooks::queue::SqliteQueue::open(&place.at).unwrap());
    let providers = Providers::new().with(MailjetVerifier::new(BasicAuth::parse("mj:pw").unwrap()));
    let pipeline = Arc::new(Pipeline::new(providers, MemoryStore::new()));
    let router =
        email_webhooks::adapters::axum::webhooks_handoff_router(pipeline, queue, |handled| {
            println!(
                "ANSWERED {} enqueued={} duplicates={}",
                handled.status, handled.enqueued, handled.duplicates
            );
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("LISTENING {}", listener.local_addr().unwrap());
    axum::serve(listener, router).await.unwrap();
}

// --- The scenarios ---

async fn worker_killed_mid_batch(engine: &'static str) {
    let place = Place::new(engine, "").await;
    let run = engines::unique("kill");
    let jobs: Vec<NewJob> = (0..EVENTS)
        .map(|i| NewJob::for_event(&event(&run, i)).unwrap())
        .collect();
    let keys: HashSet<String> = jobs.iter().map(|j| j.key.clone()).collect();
    with_queue!(place, |q| assert!(
        q.enqueue(&jobs).await.unwrap().iter().all(|new| *new)
    ));
    let log = std::env::temp_dir().join(format!("{run}.log"));
    let log_env = log.to_string_lossy().into_owned();

    let (mut first, _lines) = spawn("worker", &place, &[("FAULT_LOG", &log_env)]);
    // Kill it a third of the way through, mid-batch, while it holds claims
    // (so that the second worker must take them over).
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines_of(&log).len() < EVENTS / 3 || counts(&place).await.running == 0 {
        assert!(
            Instant::now() < deadline,
            "the first worker made no progress"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let at_kill = lines_of(&log).len();
    assert!(at_kill < EVENTS, "killed after the end ({at_kill} handled)");
    let held = counts(&place).await.running;

    let (mut second, lines) = spawn(
        "worker",
        &place,
        &[("FAULT_LOG", &log_env), ("FAULT_DRAIN", "1")],
    );
    let drained = expect_line(&lines, "DRAINED").await;
    assert!(second.wait().unwrap().success());

    let handled = lines_of(&log);
    let mut runs: HashMap<&str, usize> = HashMap::new();
    for key in &handled {
        *runs.entry(key.as_str()).or_default() += 1;
    }
    let seen: HashSet<String> = runs.keys().map(|k| (*k).to_owned()).collect();
    assert_eq!(seen, keys, "every event handled, none lost");
    // The only events run twice are those whose handler had finished when
    // the worker died but whose completion was not yet recorded: at most
    // the worker's concurrency.
    let twice: Vec<&&str> = runs
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k)
        .collect();
    assert!(runs.values().all(|n| *n <= 2));
    assert!(twice.len() <= CONCURRENCY, "run twice: {twice:?}");
    let counts = counts(&place).await;
    assert_eq!(
        (counts.ready, counts.running, counts.done, counts.dead),
        (0, 0, EVENTS as u64, 0),
        "each completed exactly once"
    );
    println!(
        "    {engine}: killed after {at_kill} of {EVENTS} with {held} claimed; the second worker (handled, stale: {drained}) took those over when their lease ended; {} re-run",
        twice.len()
    );
}

/// A worker whose handler runs for three leases keeps its event (the
/// heartbeat renews the lease; a second worker polling all along never
/// takes it over), then is killed with SIGKILL mid-handler: the second
/// worker takes the event over within the lease plus one poll and handles
/// it, once.
async fn worker_killed_mid_handler(engine: &'static str) {
    const LEASE_MS: u64 = 1_500;
    let place = Place::new(engine, "").await;
    let run = engines::unique("hang");
    let job = NewJob::for_event(&event(&run, 0)).unwrap();
    let key = job.key.clone();
    with_queue!(place, |q| assert_eq!(
        q.enqueue(std::slice::from_ref(&job)).await.unwrap(),
        [true]
    ));
    let log = std::env::temp_dir().join(format!("{run}.log"));
    let log_env = log.to_string_lossy().into_owned();
    let lease = LEASE_MS.to_string();

    let (mut first, first_lines) = spawn(
        "worker",
        &place,
        &[
            ("FAULT_LOG", &log_env),
            ("FAULT_HANG", "1"),
            ("FAULT_LEASE_MS", &lease),
        ],
    );
    assert_eq!(expect_line(&first_lines, "HANDLING").await, key);
    let (mut second, second_lines) = spawn(
        "worker",
        &place,
        &[
            ("FAULT_LOG", &log_env),
            ("FAULT_DRAIN", "1"),
            ("FAULT_LEASE_MS", &lease),
        ],
    );
    expect_line(&second_lines, "WORKING").await;
    // Three leases long, the handler keeps its claim.
    tokio::time::sleep(Duration::from_millis(3 * LEASE_MS)).await;
    assert!(
        lines_of(&log).is_empty(),
        "taken over while its worker lived"
    );
    assert_eq!(counts(&place).await.running, 1);

    first.kill().unwrap(); // SIGKILL, mid-handler
    first.wait().unwrap();
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(30);
    while lines_of(&log).is_empty() {
        assert!(Instant::now() < deadline, "never taken over");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let resumed = killed.elapsed();
    let drained = expect_line(&second_lines, "DRAINED").await;
    assert!(second.wait().unwrap().success());
    assert_eq!(lines_of(&log), [key], "handled once, by the second worker");
    let counts = counts(&place).await;
    assert_eq!((counts.ready, counts.running, counts.done), (0, 0, 1));
    // The bound the lease promises: it ends at most a lease after the last
    // renewal, the next poll claims it, the handler takes 20 ms (plus the
    // child's scheduling, given a second).
    let bound = Duration::from_millis(LEASE_MS + POLL_MS + 20 + 1_000);
    assert!(
        resumed <= bound,
        "resumed {} ms after the kill (bound {} ms)",
        resumed.as_millis(),
        bound.as_millis()
    );
    println!(
        "    {engine}: a {LEASE_MS} ms lease held through {} ms of handler; handled by the next worker {} ms after the kill (handled, stale: {drained})",
        3 * LEASE_MS,
        resumed.as_millis()
    );
}

/// A worker sent SIGTERM mid-batch (as systemd, Docker and Kubernetes
/// stop a service) stops gracefully: it exits 0, the events it held are
/// given back at once (none left running to wait out a lease), and the
/// next worker handles the rest, each event once.
async fn worker_stopped_by_sigterm() {
    let place = Place::new("sqlite", "").await;
    let run = engines::unique("term");
    let jobs: Vec<NewJob> = (0..EVENTS)
        .map(|i| NewJob::for_event(&event(&run, i)).unwrap())
        .collect();
    with_queue!(place, |q| assert!(
        q.enqueue(&jobs).await.unwrap().iter().all(|new| *new)
    ));
    let log = std::env::temp_dir().join(format!("{run}.log"));
    let log_env = log.to_string_lossy().into_owned();
    let (mut first, lines) = spawn(
        "worker",
        &place,
        &[("FAULT_LOG", &log_env), ("FAULT_SIGNAL", "1")],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines_of(&log).len() < EVENTS / 3 || counts(&place).await.running == 0 {
        assert!(Instant::now() < deadline, "the worker made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopped = expect_line(&lines, "STOPPED").await;
    assert!(first.wait().unwrap().success(), "a graceful exit");
    assert_eq!(counts(&place).await.running, 0, "nothing left claimed");
    let (mut second, lines) = spawn(
        "worker",
        &place,
        &[("FAULT_LOG", &log_env), ("FAULT_DRAIN", "1")],
    );
    expect_line(&lines, "DRAINED").await;
    assert!(second.wait().unwrap().success());
    let handled = lines_of(&log);
    let unique: HashSet<&String> = handled.iter().collect();
    assert_eq!(unique.len(), EVENTS, "every event handled");
    assert_eq!(
        handled.len(),
        EVENTS,
        "each once: none was left to run again"
    );
    println!("    stopped with (handled, released) {stopped}; the next worker handled the rest");
}

/// The Mailjet "Version 2" grouped delivery of `n` opens.
fn mailjet_batch(run: &str, n: usize) -> (Vec<(String, String)>, Vec<u8>) {
    use base64::Engine as _;
    let events: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"event":"open","time":1800000000,"MessageID":{},"Message_GUID":"{run}-{i}","email":"r{i}@example.com","mj_campaign_id":0,"mj_contact_id":{i},"customcampaign":"","ip":"192.0.2.1","geo":"FR","agent":"test"}}"#,
                1_000_000 + i
            )
        })
        .collect();
    let body = format!("[{}]", events.join(",")).into_bytes();
    let auth = base64::engine::general_purpose::STANDARD.encode("mj:pw");
    (
        vec![
            ("authorization".to_owned(), format!("Basic {auth}")),
            ("content-type".to_owned(), "application/json".to_owned()),
        ],
        body,
    )
}

async fn receiver_killed_before_answering() {
    let place = Place::new("sqlite", "").await;
    let run = engines::unique("recv");
    let (headers, body) = mailjet_batch(&run, 10);

    let (mut first, lines) = spawn("receiver", &place, &[("FAULT_PAUSE", "1")]);
    let addr = expect_line(&lines, "LISTENING").await;
    let in_flight = {
        let (addr, headers, body) = (addr.clone(), headers.clone(), body.clone());
        tokio::spawn(async move { post(&addr, "/webhooks/mailjet", &headers, &body).await })
    };
    assert_eq!(expect_line(&lines, "ENQUEUED").await, "10");
    first.kill().unwrap(); // SIGKILL, between the enqueue and the answer
    first.wait().unwrap();
    assert_eq!(in_flight.await.unwrap(), 0, "the provider got no answer");
    assert_eq!(
        counts(&place).await.ready,
        10,
        "yet the events were durable"
    );

    // The provider redelivers to the restarted receiver.
    let (mut second, lines) = spawn("receiver", &place, &[]);
    let addr = expect_line(&lines, "LISTENING").await;
    assert_eq!(post(&addr, "/webhooks/mailjet", &headers, &body).await, 200);
    assert_eq!(
        expect_line(&lines, "ANSWERED").await,
        "200 enqueued=0 duplicates=10"
    );
    second.kill().unwrap();
    second.wait().unwrap();

    let handled: Mutex<HashMap<String, usize>> = Mutex::default();
    let queue = email_webhooks::queue::SqliteQueue::open(&place.at).unwrap();
    Worker::new(queue)
        .with_poll_interval(Duration::from_millis(20))
        .run_until_idle(|event: EmailEvent| {
            *handled
                .lock()
                .unwrap()
                .entry(event.idempotency_key())
                .or_default() += 1;
            async { Ok::<(), String>(()) }
        })
        .await;
    let handled = handled.into_inner().unwrap();
    assert_eq!(handled.len(), 10);
    assert!(handled.values().all(|n| *n == 1), "{handled:?}");
}

async fn server_restarted(engine: &'static str) {
    let place = Place::new(engine, "_RESTART").await;
    with_queue!(place, |q| restart_run(q, engine).await);
}

async fn restart_run<Q: Queue + Clone + 'static>(queue: Q, engine: &str) {
    let run = engines::unique("restart");
    let handled: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let stop = Arc::new(tokio::sync::Notify::new());
    let worker = {
        let (queue, handled, stop) = (queue.clone(), handled.clone(), stop.clone());
        tokio::spawn(async move {
            Worker::new(queue)
                .with_concurrency(CONCURRENCY)
                .with_lease(Duration::from_secs(10))
                .with_poll_interval(Duration::from_millis(50))
                .run(
                    |event: EmailEvent| {
                        let handled = handled.clone();
                        async move {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            *handled
                                .lock()
                                .unwrap()
                                .entry(event.idempotency_key())
                                .or_default() += 1;
                            Ok::<(), String>(())
                        }
                    },
                    async move { stop.notified().await },
                )
                .await
        })
    };
    let deliveries = 20;
    let mut failures = 0;
    for d in 0..deliveries {
        if d == deliveries / 3 {
            let script = engines::env(&format!(
                "EMAIL_WEBHOOKS_TEST_{}_RESTART",
                engine.to_uppercase()
            ));
            let status = tokio::task::spawn_blocking(move || {
                Command::new("bash").arg(script).status().unwrap()
            })
            .await
            .unwrap();
            assert!(status.success());
        }
        let jobs: Vec<NewJob> = (0..10)
            .map(|i| NewJob::for_event(&event(&run, d * 10 + i)).unwrap())
            .collect();
        // As a provider does: redeliver until answered 2xx.
        let deadline = Instant::now() + Duration::from_secs(30);
        while queue.enqueue(&jobs).await.is_err() {
            failures += 1;
            assert!(Instant::now() < deadline, "the queue never came back");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // The server was back when the restart script returned: the first
    // enqueue after it reconnects transparently (a dropped connection is
    // retried once on the new one), so the provider never saw an error.
    assert_eq!(failures, 0, "enqueues refused after the server was back");
    let total = deliveries * 10;
    let deadline = Instant::now() + Duration::from_secs(60);
    while handled.lock().unwrap().len() < total {
        assert!(
            Instant::now() < deadline,
            "events lost: {} of {total}",
            handled.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let any run still in flight finish, so a second run would be counted.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.notify_one();
    let report = worker.await.unwrap();
    let handled = handled.lock().unwrap().clone();
    assert_eq!(handled.len(), total, "no event lost");
    let twice: Vec<_> = handled.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "handled twice: {twice:?}");
    let counts = queue.counts().await.unwrap();
    assert_eq!(
        (counts.done, counts.dead, counts.ready, counts.running),
        (total as u64, 0, 0, 0)
    );
    println!(
        "    {engine}: {total} events in {deliveries} deliveries; {failures} enqueues refused after the restart; worker report {report:?}"
    );
}
