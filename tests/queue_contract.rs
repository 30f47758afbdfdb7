//! The queue contract, written once and run against every engine (memory,
//! SQLite, PostgreSQL, Redis; see tests/queues/engines.rs), and the
//! worker's behaviour on each: retries with backoff, the dead-letter set,
//! requeueing, the concurrency limit, shutdown, panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "queues/engines.rs"]
mod engines;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use email_webhooks::queue::{
    ClaimedJob, DeadLetter, NewJob, Queue, QueueCounts, Settlement, StoreError, decode_event,
};
use email_webhooks::worker::{Backoff, Worker};
use email_webhooks::{EmailEvent, EventKind, Provider};

/// A distinct event (its key: `sendgrid:<id>`).
fn event(id: &str) -> EmailEvent {
    let raw =
        serde_json::value::RawValue::from_string(format!(r#"{{"sg_event_id":"{id}"}}"#)).unwrap();
    let mut event = EmailEvent::new(Provider::Sendgrid, EventKind::Bounced, raw);
    event.event_id = Some(id.to_owned());
    event.recipient = Some(format!("{id}@example.com"));
    event
}

fn jobs(ids: &[&str]) -> Vec<NewJob> {
    ids.iter()
        .map(|id| NewJob::for_event(&event(id)).unwrap())
        .collect()
}

fn many(prefix: &str, n: usize) -> Vec<NewJob> {
    (0..n)
        .map(|i| NewJob::for_event(&event(&format!("{prefix}{i}"))).unwrap())
        .collect()
}

const LEASE: Duration = Duration::from_secs(30);

fn quick(worker: Worker<impl Queue>) -> Worker<impl Queue> {
    worker
        .with_backoff(Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
        })
        .with_poll_interval(Duration::from_millis(20))
}

/// The faults a [`Faulty`] queue injects.
#[derive(Default)]
struct Faults {
    /// Renewals fail while set (the engine unreachable from this worker
    /// alone).
    failing_renewals: AtomicBool,
    /// Claims after this many answer `slow` late (their query runs at
    /// once: what is enqueued while the answer is on its way is not in it).
    slow_claims_after: Option<usize>,
    /// Completions wait `slow` first (for a connection, say).
    slow_completions: bool,
    /// Renewals wait `slow` first, then renew.
    slow_renewals: bool,
    slow: Duration,
    /// Each claim takes at most this many jobs.
    claim_at_most: Option<usize>,
}

/// A real engine with [`Faults`] injected; wake-ups are the engine's.
struct Faulty<'a, Q> {
    queue: &'a Q,
    faults: &'a Faults,
    claims: AtomicUsize,
}

impl<'a, Q> Faulty<'a, Q> {
    fn new(queue: &'a Q, faults: &'a Faults) -> Self {
        Self {
            queue,
            faults,
            claims: AtomicUsize::new(0),
        }
    }
}

impl<Q: Queue> Queue for Faulty<'_, Q> {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<bool>, StoreError> {
        self.queue.enqueue(jobs).await
    }
    async fn claim(&self, max: usize, lease: Duration) -> Result<Vec<ClaimedJob>, StoreError> {
        let max = self.faults.claim_at_most.map_or(max, |most| max.min(most));
        let claimed = self.queue.claim(max, lease).await;
        let before = self.claims.fetch_add(1, Ordering::SeqCst);
        if self
            .faults
            .slow_claims_after
            .is_some_and(|after| before >= after)
        {
            tokio::time::sleep(self.faults.slow).await;
        }
        claimed
    }
    async fn renew(&self, job: &ClaimedJob, lease: Duration) -> Result<(), StoreError> {
        if self.faults.failing_renewals.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("unreachable".into()));
        }
        if self.faults.slow_renewals {
            tokio::time::sleep(self.faults.slow).await;
        }
        self.queue.renew(job, lease).await
    }
    fn wait_for_jobs(&self) -> impl std::future::Future<Output = ()> + Send + '_ {
        self.queue.wait_for_jobs()
    }
    async fn settle(&self, job: &ClaimedJob, settlement: Settlement<'_>) -> Result<(), StoreError> {
        if self.faults.slow_completions && settlement == Settlement::Complete {
            tokio::time::sleep(self.faults.slow).await;
        }
        self.queue.settle(job, settlement).await
    }
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.queue.dead_letters(limit).await
    }
    async fn requeue(&self, keys: Option<&[String]>) -> Result<usize, StoreError> {
        self.queue.requeue(keys).await
    }
    async fn counts(&self) -> Result<QueueCounts, StoreError> {
        self.queue.counts().await
    }
}

/// Sets its flag when dropped: a handler's future cancelled.
struct Cancelled<'a>(&'a AtomicBool);

impl Drop for Cancelled<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

macro_rules! contract {
    ($engine:ident, $make:expr) => {
        mod $engine {
            use super::*;

            #[tokio::test]
            async fn enqueue_is_idempotent_per_key_and_answers_each_job() {
                let q = $make;
                assert_eq!(q.enqueue(&jobs(&["a", "b"])).await.unwrap(), [true, true]);
                assert_eq!(q.enqueue(&jobs(&["b", "a"])).await.unwrap(), [false, false]);
                assert_eq!(q.enqueue(&jobs(&["b", "c"])).await.unwrap(), [false, true]);
                assert!(q.enqueue(&[]).await.unwrap().is_empty());
                let counts = q.counts().await.unwrap();
                assert_eq!(
                    (counts.ready, counts.running, counts.done, counts.dead),
                    (3, 0, 0, 0)
                );
            }

            #[tokio::test]
            async fn a_key_repeated_within_one_enqueue_is_new_once() {
                let q = $make;
                assert_eq!(
                    q.enqueue(&jobs(&["r1", "r2", "r1", "r2", "r3"]))
                        .await
                        .unwrap(),
                    [true, true, false, false, true]
                );
                assert_eq!(q.counts().await.unwrap().ready, 3);
            }

            #[tokio::test]
            async fn claims_hand_each_job_to_one_claimer_with_its_event() {
                let q = Arc::new($make);
                q.enqueue(&many("e", 60)).await.unwrap();
                let claims = futures_util::future::join_all((0..4).map(|_| {
                    let q = q.clone();
                    async move { q.claim(20, LEASE).await.unwrap() }
                }))
                .await;
                let mut seen = HashSet::new();
                for job in claims.iter().flatten() {
                    assert!(seen.insert(job.key.clone()), "{} claimed twice", job.key);
                    let event = decode_event(&job.payload, &[]).unwrap();
                    assert_eq!(event.idempotency_key(), job.key);
                    assert_eq!(job.attempts, 0);
                }
                assert_eq!(seen.len(), 60);
                assert!(q.claim(10, LEASE).await.unwrap().is_empty());
                assert_eq!(q.counts().await.unwrap().running, 60);
            }

            #[tokio::test]
            async fn a_handled_key_is_a_duplicate_and_completing_is_idempotent() {
                let q = $make;
                q.enqueue(&jobs(&["done"])).await.unwrap();
                let job = q.claim(10, LEASE).await.unwrap().pop().unwrap();
                q.complete(&job).await.unwrap();
                q.complete(&job).await.unwrap();
                assert_eq!(q.enqueue(&jobs(&["done"])).await.unwrap(), [false]);
                assert!(q.claim(10, LEASE).await.unwrap().is_empty());
                let counts = q.counts().await.unwrap();
                assert_eq!((counts.ready, counts.running, counts.done), (0, 0, 1));
            }

            #[tokio::test]
            async fn an_expired_lease_is_taken_over_and_the_old_claim_is_fenced_off() {
                let q = $make;
                q.enqueue(&jobs(&["slow"])).await.unwrap();
                let old = q
                    .claim(1, Duration::from_millis(300))
                    .await
                    .unwrap()
                    .pop()
                    .unwrap();
                assert!(
                    q.claim(1, LEASE).await.unwrap().is_empty(),
                    "held during its lease"
                );
                tokio::time::sleep(Duration::from_millis(600)).await;
                let new = q.claim(1, LEASE).await.unwrap().pop().unwrap();
                assert_eq!(new.key, old.key);
                assert!(new.fence > old.fence);
                assert_eq!(
                    new.attempts,
                    old.attempts + 1,
                    "a lapsed claim is an attempt"
                );
                for refused in [
                    q.complete(&old).await,
                    q.retry(&old, Duration::ZERO, "x").await,
                    q.release(&old).await,
                    q.bury(&old, "x").await,
                ] {
                    assert!(
                        matches!(refused, Err(StoreError::StaleToken)),
                        "{refused:?}"
                    );
                }
                q.complete(&new).await.unwrap();
                assert!(matches!(
                    q.complete(&old).await,
                    Err(StoreError::StaleToken)
                ));
                assert_eq!(q.counts().await.unwrap().done, 1);
            }

            #[tokio::test]
            async fn a_renewed_claim_outlives_its_first_lease_and_a_stale_one_cannot_renew() {
                let q = $make;
                q.enqueue(&jobs(&["beat"])).await.unwrap();
                let short = Duration::from_millis(400);
                let job = q.claim(1, short).await.unwrap().pop().unwrap();
                assert!(!job.taken_over, "a first claim takes nothing over");
                for _ in 0..4 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    q.renew(&job, short).await.unwrap();
                }
                // 800 ms past a 400 ms lease: still held.
                assert!(
                    q.claim(1, LEASE).await.unwrap().is_empty(),
                    "renewed, still held"
                );
                assert_eq!(q.counts().await.unwrap().running, 1);
                // Unrenewed, it lapses and is taken over; the old claim can
                // renew no more.
                tokio::time::sleep(Duration::from_millis(700)).await;
                let new = q.claim(1, LEASE).await.unwrap().pop().unwrap();
                assert_eq!(new.key, job.key);
                assert!(new.taken_over, "a lapsed claim's job is taken over");
                assert!(matches!(
                    q.renew(&job, LEASE).await,
                    Err(StoreError::StaleToken)
                ));
                q.renew(&new, LEASE).await.unwrap();
                q.complete(&new).await.unwrap();
                assert!(
                    matches!(q.renew(&new, LEASE).await, Err(StoreError::StaleToken)),
                    "a settled job cannot be renewed"
                );
            }

            #[tokio::test]
            async fn a_slow_handler_keeps_its_claim_through_heartbeats() {
                let q = $make;
                q.enqueue(&jobs(&["slow"])).await.unwrap();
                let runs = AtomicUsize::new(0);
                let handler = |_: EmailEvent| {
                    runs.fetch_add(1, Ordering::SeqCst);
                    async {
                        // Four leases long.
                        tokio::time::sleep(Duration::from_millis(1_200)).await;
                        Ok::<(), String>(())
                    }
                };
                let worker = |q| quick(Worker::new(q)).with_lease(Duration::from_millis(300));
                // Two workers on the queue: the second, polling all along,
                // never finds the first one's claim lapsed.
                let (first, second) = (worker(&q), worker(&q));
                let (a, b) = tokio::join!(
                    first.run_until_idle(handler),
                    second.run_until_idle(handler)
                );
                assert_eq!(runs.load(Ordering::SeqCst), 1, "run once");
                assert_eq!(a.handled + b.handled, 1);
                assert_eq!((a.taken_over, b.taken_over, a.stale, b.stale), (0, 0, 0, 0));
            }

            #[tokio::test]
            async fn a_worker_that_cannot_renew_for_a_lease_cancels_its_handler() {
                let q = $make;
                q.enqueue(&jobs(&["lost"])).await.unwrap();
                // Its renewals fail: the engine is unreachable from this
                // worker, though maybe not from another, which may take the
                // job over once the lease ends.
                let faults = Faults {
                    failing_renewals: AtomicBool::new(true),
                    ..Faults::default()
                };
                let flaky = Faulty::new(&q, &faults);
                let cancelled = AtomicBool::new(false);
                let runs = AtomicUsize::new(0);
                let worker = quick(Worker::new(&flaky))
                    .with_lease(Duration::from_millis(300))
                    .with_concurrency(1);
                let report = tokio::time::timeout(
                    Duration::from_secs(20),
                    worker.run_until_idle(|_: EmailEvent| {
                        let first = runs.fetch_add(1, Ordering::SeqCst) == 0;
                        let guard = Cancelled(&cancelled);
                        async move {
                            if first {
                                tokio::time::sleep(Duration::from_secs(60)).await;
                            }
                            std::mem::forget(guard);
                            Ok::<(), String>(())
                        }
                    }),
                )
                .await
                .expect("the worker kept running a job it could not renew");
                assert!(cancelled.load(Ordering::SeqCst), "the handler ran on");
                // Then its own next claim took the lapsed job over, and that
                // run (too short to need a renewal) completed it.
                assert_eq!(runs.load(Ordering::SeqCst), 2);
                assert_eq!(
                    (
                        report.handled,
                        report.stale,
                        report.taken_over,
                        report.retried
                    ),
                    (1, 1, 1, 0)
                );
                assert_eq!(q.counts().await.unwrap().done, 1);
            }

            #[tokio::test]
            async fn a_slow_renewal_that_lands_keeps_the_claim() {
                let q = $make;
                q.enqueue(&jobs(&["slow-renewals"])).await.unwrap();
                // Each renewal takes longer than a beat (200 ms of a 600 ms
                // lease), yet lands within the lease.
                let faults = Faults {
                    slow_renewals: true,
                    slow: Duration::from_millis(250),
                    ..Faults::default()
                };
                let slow = Faulty::new(&q, &faults);
                let cancelled = AtomicBool::new(false);
                let worker = quick(Worker::new(&slow))
                    .with_lease(Duration::from_millis(600))
                    .with_concurrency(1);
                let report = worker
                    .run_until_idle(|_: EmailEvent| {
                        let guard = Cancelled(&cancelled);
                        async move {
                            tokio::time::sleep(Duration::from_millis(1500)).await;
                            std::mem::forget(guard);
                            Ok::<(), String>(())
                        }
                    })
                    .await;
                assert!(
                    !cancelled.load(Ordering::SeqCst),
                    "a healthy handler was cancelled"
                );
                assert_eq!((report.handled, report.stale, report.taken_over), (1, 0, 0));
                assert_eq!(q.counts().await.unwrap().done, 1);
            }

            #[tokio::test]
            async fn shutdown_lets_a_settlement_under_way_finish() {
                let q = $make;
                q.enqueue(&jobs(&["settling"])).await.unwrap();
                // The completion takes longer than the whole grace period.
                let faults = Faults {
                    slow_completions: true,
                    slow: Duration::from_millis(600),
                    ..Faults::default()
                };
                let slow = Faulty::new(&q, &faults);
                let handled = tokio::sync::Notify::new();
                let worker =
                    quick(Worker::new(&slow)).with_shutdown_grace(Duration::from_millis(100));
                let report = worker
                    .run(
                        |_: EmailEvent| {
                            handled.notify_one();
                            async { Ok::<(), String>(()) }
                        },
                        async {
                            handled.notified().await;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        },
                    )
                    .await;
                // Not given back (its handler would run again): completed.
                assert_eq!((report.handled, report.released), (1, 0));
                let counts = q.counts().await.unwrap();
                assert_eq!((counts.done, counts.ready, counts.running), (1, 0, 0));
            }

            #[tokio::test]
            async fn shutdown_gives_back_at_once_what_a_claim_in_flight_took() {
                let q = $make;
                q.enqueue(&jobs(&["long", "late"])).await.unwrap();
                // The first claim takes "long" alone; the next, "late", but
                // answers 400 ms later: shutdown comes while it is on its
                // way.
                let faults = Faults {
                    claim_at_most: Some(1),
                    slow_claims_after: Some(1),
                    slow: Duration::from_millis(400),
                    ..Faults::default()
                };
                let faulty = Faulty::new(&q, &faults);
                let started = tokio::sync::Notify::new();
                let stop = tokio::sync::Notify::new();
                let worker = quick(Worker::new(&faulty))
                    .with_concurrency(2)
                    .with_shutdown_grace(Duration::from_secs(10));
                let run = worker.run(
                    |_: EmailEvent| {
                        started.notify_one();
                        async {
                            tokio::time::sleep(Duration::from_millis(1500)).await;
                            Ok::<(), String>(())
                        }
                    },
                    stop.notified(),
                );
                let check = async {
                    started.notified().await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    stop.notify_one();
                    // "late" never started: back to ready as soon as the
                    // claim answered, not after the running handler.
                    tokio::time::sleep(Duration::from_millis(700)).await;
                    let counts = q.counts().await.unwrap();
                    assert_eq!((counts.ready, counts.running), (1, 1), "{counts:?}");
                };
                let (report, ()) = tokio::join!(run, check);
                assert_eq!((report.handled, report.released), (1, 1));
                let counts = q.counts().await.unwrap();
                assert_eq!((counts.done, counts.ready, counts.running), (1, 1, 0));
            }

            #[tokio::test]
            async fn counts_tell_when_the_oldest_ready_job_became_due() {
                let q = $make;
                assert_eq!(q.counts().await.unwrap().oldest_ready, None);
                let before = std::time::SystemTime::now() - Duration::from_secs(1);
                q.enqueue(&jobs(&["old"])).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                q.enqueue(&jobs(&["new"])).await.unwrap();
                let oldest = q.counts().await.unwrap().oldest_ready.unwrap();
                let after = std::time::SystemTime::now() + Duration::from_secs(1);
                assert!(oldest >= before && oldest <= after, "{oldest:?}");
                // Claimed, then waiting out a retry delay: not ready and due.
                for job in q.claim(10, LEASE).await.unwrap() {
                    q.retry(&job, Duration::from_secs(60), "later")
                        .await
                        .unwrap();
                }
                let counts = q.counts().await.unwrap();
                assert_eq!((counts.ready, counts.oldest_ready), (2, None));
            }

            #[tokio::test]
            async fn a_retry_waits_its_delay_and_counts_the_attempt() {
                let q = $make;
                q.enqueue(&jobs(&["flaky"])).await.unwrap();
                let job = q.claim(1, LEASE).await.unwrap().pop().unwrap();
                q.retry(&job, Duration::from_millis(400), "boom")
                    .await
                    .unwrap();
                assert!(
                    q.claim(1, LEASE).await.unwrap().is_empty(),
                    "claimed before its delay"
                );
                assert_eq!(q.counts().await.unwrap().ready, 1);
                tokio::time::sleep(Duration::from_millis(600)).await;
                let again = q.claim(1, LEASE).await.unwrap().pop().unwrap();
                assert_eq!((again.key.as_str(), again.attempts), (job.key.as_str(), 1));
                q.release(&again).await.unwrap();
                let released = q.claim(1, LEASE).await.unwrap().pop().unwrap();
                assert_eq!(released.attempts, 1, "a release counts no attempt");
            }

            #[tokio::test]
            async fn dead_letters_are_listed_and_requeued() {
                let q = $make;
                q.enqueue(&jobs(&["d1", "d2", "ok"])).await.unwrap();
                let mut claimed = q.claim(10, LEASE).await.unwrap();
                claimed.sort_by(|a, b| a.key.cmp(&b.key));
                q.bury(&claimed[0], "first failure").await.unwrap();
                q.bury(&claimed[1], "second failure").await.unwrap();
                q.complete(&claimed[2]).await.unwrap();
                let dead = q.dead_letters(10).await.unwrap();
                let mut listed: Vec<(&str, &str, u32)> = dead
                    .iter()
                    .map(|d| (d.key.as_str(), d.error.as_str(), d.attempts))
                    .collect();
                listed.sort_unstable();
                assert_eq!(
                    listed,
                    [
                        ("sendgrid:d1", "first failure", 1),
                        ("sendgrid:d2", "second failure", 1)
                    ]
                );
                assert_eq!(
                    decode_event(&dead[0].payload, &[])
                        .unwrap()
                        .idempotency_key(),
                    dead[0].key
                );
                assert_eq!(q.dead_letters(1).await.unwrap().len(), 1);
                assert_eq!(
                    q.enqueue(&jobs(&["d1"])).await.unwrap(),
                    [false],
                    "a dead key is not enqueued again"
                );
                assert_eq!(
                    q.requeue(Some(&["sendgrid:d1".to_owned(), "sendgrid:ok".to_owned()]))
                        .await
                        .unwrap(),
                    1
                );
                assert_eq!(q.counts().await.unwrap().dead, 1);
                assert_eq!(q.requeue(None).await.unwrap(), 1);
                assert!(q.dead_letters(10).await.unwrap().is_empty());
                let back = q.claim(10, LEASE).await.unwrap();
                assert_eq!(back.len(), 2);
                assert!(back.iter().all(|j| j.attempts == 0));
            }

            #[tokio::test]
            async fn the_worker_retries_with_backoff_until_the_handler_succeeds() {
                let q = $make;
                q.enqueue(&jobs(&["thrice"])).await.unwrap();
                let calls = AtomicUsize::new(0);
                let report = quick(Worker::new(&q))
                    .run_until_idle(|_event| {
                        let n = calls.fetch_add(1, Ordering::SeqCst);
                        async move {
                            if n < 3 {
                                Err(format!("failure {n}"))
                            } else {
                                Ok(())
                            }
                        }
                    })
                    .await;
                assert_eq!(calls.load(Ordering::SeqCst), 4);
                assert_eq!(
                    (report.handled, report.retried, report.dead_lettered),
                    (1, 3, 0)
                );
                assert_eq!(q.counts().await.unwrap().done, 1);
            }

            #[tokio::test]
            async fn an_always_failing_event_is_dead_lettered_then_handled_after_a_requeue() {
                let q = $make;
                q.enqueue(&jobs(&["poison", "fine"])).await.unwrap();
                let healthy = Mutex::new(false);
                let handled = Mutex::new(Vec::new());
                let handler = |event: EmailEvent| {
                    let ok = *healthy.lock().unwrap() || event.event_id.as_deref() == Some("fine");
                    if ok {
                        handled.lock().unwrap().push(event.idempotency_key());
                    }
                    async move {
                        if ok {
                            Ok(())
                        } else {
                            Err("downstream refused")
                        }
                    }
                };
                let worker = quick(Worker::new(&q)).with_max_attempts(3);
                let report = worker.run_until_idle(handler).await;
                assert_eq!(
                    (report.handled, report.retried, report.dead_lettered),
                    (1, 2, 1)
                );
                let dead = q.dead_letters(10).await.unwrap();
                assert_eq!(dead.len(), 1);
                assert_eq!(
                    (
                        dead[0].key.as_str(),
                        dead[0].attempts,
                        dead[0].error.as_str()
                    ),
                    ("sendgrid:poison", 3, "downstream refused")
                );
                *healthy.lock().unwrap() = true;
                assert_eq!(q.requeue(None).await.unwrap(), 1);
                let report = worker.run_until_idle(handler).await;
                assert_eq!(report.handled, 1);
                assert_eq!(
                    *handled.lock().unwrap(),
                    ["sendgrid:fine", "sendgrid:poison"]
                );
                let counts = q.counts().await.unwrap();
                assert_eq!((counts.done, counts.dead), (2, 0));
            }

            #[tokio::test]
            async fn the_worker_keeps_to_its_concurrency_limit_and_a_panic_is_a_failure() {
                let q = $make;
                q.enqueue(&many("c", 40)).await.unwrap();
                let running = AtomicUsize::new(0);
                let peak = AtomicUsize::new(0);
                let panicked = AtomicUsize::new(0);
                let panicked_early = AtomicUsize::new(0);
                let report = quick(Worker::new(&q))
                    .with_concurrency(4)
                    .run_until_idle(|event| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        let panics = event.event_id.as_deref() == Some("c7")
                            && panicked.fetch_add(1, Ordering::SeqCst) == 0;
                        // A handler that panics before it returns its future.
                        if event.event_id.as_deref() == Some("c9")
                            && panicked_early.fetch_add(1, Ordering::SeqCst) == 0
                        {
                            running.fetch_sub(1, Ordering::SeqCst);
                            panic!("a handler bug before its future");
                        }
                        let running = &running;
                        async move {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            running.fetch_sub(1, Ordering::SeqCst);
                            assert!(!panics, "a handler bug");
                            Ok::<(), String>(())
                        }
                    })
                    .await;
                assert_eq!((report.handled, report.retried), (40, 2));
                let peak = peak.load(Ordering::SeqCst);
                assert!((2..=4).contains(&peak), "peak concurrency {peak}");
            }

            #[tokio::test]
            async fn a_handler_that_hangs_is_cancelled_at_its_timeout_and_dead_lettered() {
                let q = $make;
                q.enqueue(&jobs(&["hang", "fine"])).await.unwrap();
                // One slot: a hung handler that kept it would stop the
                // worker for good.
                let worker = quick(Worker::new(&q))
                    .with_concurrency(1)
                    .with_lease(Duration::from_millis(300))
                    .with_handler_timeout(Duration::from_millis(700))
                    .with_max_attempts(2);
                let run = worker.run_until_idle(|event: EmailEvent| {
                    let hangs = event.event_id.as_deref() == Some("hang");
                    async move {
                        if hangs {
                            std::future::pending::<()>().await;
                        }
                        Ok::<(), String>(())
                    }
                });
                let report = tokio::time::timeout(Duration::from_secs(30), run)
                    .await
                    .expect("a hung handler stopped the worker");
                assert_eq!(
                    (report.handled, report.retried, report.dead_lettered),
                    (1, 1, 1)
                );
                let dead = q.dead_letters(10).await.unwrap();
                assert_eq!(dead.len(), 1);
                assert_eq!(
                    (dead[0].key.as_str(), dead[0].attempts),
                    ("sendgrid:hang", 2)
                );
                assert!(
                    dead[0].error.contains("did not finish within 700 ms"),
                    "{}",
                    dead[0].error
                );
            }

            #[tokio::test]
            async fn a_handler_error_is_kept_bounded_and_without_nul_characters() {
                let q = $make;
                q.enqueue(&jobs(&["nul"])).await.unwrap();
                let long = format!("bad\0err {}", "é".repeat(10_000));
                let worker = quick(Worker::new(&q))
                    .with_lease(Duration::from_secs(1))
                    .with_max_attempts(1);
                let run = worker.run_until_idle(|_| {
                    let long = long.clone();
                    async move { Err::<(), String>(long) }
                });
                let report = tokio::time::timeout(Duration::from_secs(20), run)
                    .await
                    .expect("the failed job was never settled");
                assert_eq!(report.dead_lettered, 1);
                let dead = q.dead_letters(10).await.unwrap();
                assert_eq!(dead.len(), 1);
                let error = &dead[0].error;
                assert!(error.starts_with("bad\u{FFFD}err éé"), "{}", &error[..20]);
                assert!(error.ends_with('…'));
                assert!(
                    error.len() <= 4096 + '…'.len_utf8(),
                    "{} bytes",
                    error.len()
                );
            }

            #[tokio::test]
            async fn an_event_whose_claims_keep_lapsing_ends_in_the_dead_letter_set() {
                let q = $make;
                q.enqueue(&jobs(&["crash"])).await.unwrap();
                // Two workers die holding it: each claims, never settles.
                for lapsed in 0..2 {
                    let job = q
                        .claim(1, Duration::from_millis(200))
                        .await
                        .unwrap()
                        .pop()
                        .unwrap();
                    assert_eq!((job.key.as_str(), job.attempts), ("sendgrid:crash", lapsed));
                    tokio::time::sleep(Duration::from_millis(400)).await;
                }
                q.enqueue(&jobs(&["fine"])).await.unwrap();
                let ran = Mutex::new(Vec::new());
                let report = quick(Worker::new(&q))
                    .with_max_attempts(2)
                    .run_until_idle(|event: EmailEvent| {
                        ran.lock().unwrap().push(event.idempotency_key());
                        async { Ok::<(), String>(()) }
                    })
                    .await;
                // Not run a third time: it could take this worker down too.
                assert_eq!(*ran.lock().unwrap(), ["sendgrid:fine"]);
                assert_eq!((report.handled, report.dead_lettered), (1, 1));
                let dead = q.dead_letters(10).await.unwrap();
                assert_eq!(dead.len(), 1);
                assert_eq!(dead[0].key, "sendgrid:crash");
                assert!(dead[0].error.contains("lapsed"), "{}", dead[0].error);
            }

            #[tokio::test]
            async fn shutdown_gives_unfinished_events_back() {
                let q = $make;
                q.enqueue(&jobs(&["long"])).await.unwrap();
                let started = tokio::sync::Notify::new();
                let worker = quick(Worker::new(&q)).with_shutdown_grace(Duration::from_millis(50));
                let report = worker
                    .run(
                        |_| {
                            started.notify_one();
                            async {
                                tokio::time::sleep(Duration::from_secs(60)).await;
                                Ok::<(), String>(())
                            }
                        },
                        started.notified(),
                    )
                    .await;
                assert_eq!((report.handled, report.released), (0, 1));
                let back = q.claim(1, LEASE).await.unwrap().pop().unwrap();
                assert_eq!((back.key.as_str(), back.attempts), ("sendgrid:long", 0));
            }
        }
    };
}

contract!(memory, engines::memory());
contract!(sqlite, engines::sqlite().0);
contract!(postgres, engines::postgres().await);
contract!(redis, engines::redis().await);

/// Durations past the cap (a lease, a poll interval, a grace period of
/// `Duration::MAX`) are capped, never an overflow panic.
#[tokio::test]
async fn a_worker_with_durations_past_the_cap_does_not_panic() {
    let q = engines::memory();
    q.enqueue(&jobs(&["long"])).await.unwrap();
    let report = Worker::new(&q)
        .with_lease(Duration::MAX)
        .with_poll_interval(Duration::MAX)
        .with_shutdown_grace(Duration::MAX)
        .run_until_idle(|_| async { Ok::<(), String>(()) })
        .await;
    assert_eq!(report.handled, 1);
}

/// More enqueues than the SQLite writer's inbox holds (4,096), even after
/// the writer has taken a group of them (up to 512) before stalling, and a
/// second group should its 5-second wait for the lock end first: fewer, and
/// the inbox was full only when the writer happened to take fewer than
/// 104 (a clean-clone CI run caught it with room to spare).
const FILLERS: usize = 4096 + 2 * 512 + 100;

/// A settlement never blocks the caller's thread: with the SQLite writer
/// stalled (another connection holds the write lock) and its inbox full,
/// completing a job answers at once (`Full`, which the worker retries).
#[tokio::test]
async fn sqlite_settlements_never_block_the_runtime_when_the_writer_is_stalled() {
    let (q, path) = engines::sqlite();
    q.enqueue(&jobs(&["settle"])).await.unwrap();
    let job = q.claim(1, LEASE).await.unwrap().pop().unwrap();
    let lock = rusqlite::Connection::open(&path).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    // The writer takes one enqueue and waits for the lock; the rest fill
    // its inbox.
    let q = Arc::new(q);
    let submitted = Arc::new(AtomicUsize::new(0));
    let waiting: Vec<_> = (0..FILLERS)
        .map(|i| {
            let (q, submitted) = (Arc::clone(&q), Arc::clone(&submitted));
            tokio::spawn(async move {
                let fill = jobs(&[&format!("fill{i}")]);
                let mut enqueued = std::pin::pin!(q.enqueue(&fill));
                // Its first poll hands the write to the writer (or finds
                // the inbox full).
                let done = futures_util::FutureExt::now_or_never(enqueued.as_mut());
                submitted.fetch_add(1, Ordering::SeqCst);
                match done {
                    Some(result) => result,
                    None => enqueued.await,
                }
            })
        })
        .collect();
    // Every filler has handed its write over: the inbox is full.
    while submitted.load(Ordering::SeqCst) < FILLERS {
        tokio::task::yield_now().await;
    }
    let started = std::time::Instant::now();
    // A blocked thread cannot even let this timeout fire.
    let settled = tokio::time::timeout(Duration::from_millis(500), q.complete(&job)).await;
    let took = started.elapsed();
    lock.execute_batch("ROLLBACK").unwrap();
    assert!(
        took < Duration::from_secs(1),
        "complete blocked for {took:?}"
    );
    assert!(
        matches!(settled, Ok(Err(StoreError::Full { .. }))),
        "{settled:?}"
    );
    drop(waiting);
}

/// A key repeated within one delivery is stored once, so it counts once
/// against the memory queue's capacity.
#[tokio::test]
async fn the_memory_queue_counts_a_key_repeated_in_one_batch_once() {
    let q = engines::memory().with_capacity(1);
    assert_eq!(q.enqueue(&jobs(&["a", "a"])).await.unwrap(), [true, false]);
    assert!(matches!(
        q.enqueue(&jobs(&["b"])).await,
        Err(StoreError::Full { capacity: 1 })
    ));
}

/// PostgreSQL text cannot hold NUL: the queue keeps the error with U+FFFD
/// in its place instead of failing the settlement every time.
#[tokio::test]
async fn postgres_settles_with_an_error_holding_a_nul_character() {
    let q = engines::postgres().await;
    q.enqueue(&jobs(&["nul1", "nul2"])).await.unwrap();
    let mut claimed = q.claim(2, LEASE).await.unwrap();
    let (second, first) = (claimed.pop().unwrap(), claimed.pop().unwrap());
    q.retry(&first, Duration::ZERO, "a\0b").await.unwrap();
    q.bury(&second, "c\0d").await.unwrap();
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead[0].error, "c\u{FFFD}d");
    let again = q.claim(1, LEASE).await.unwrap();
    assert_eq!(again[0].attempts, 1);
}

/// The SQLite queue is durable: what was enqueued is there after the
/// queue (the process's handle on the file) is reopened.
#[tokio::test]
async fn sqlite_keeps_its_jobs_across_reopening() {
    let (q, path) = engines::sqlite();
    q.enqueue(&many("keep", 5)).await.unwrap();
    let job = q.claim(1, LEASE).await.unwrap().pop().unwrap();
    q.complete(&job).await.unwrap();
    drop(q);
    let q = email_webhooks::queue::SqliteQueue::open(&path).unwrap();
    let counts = q.counts().await.unwrap();
    assert_eq!((counts.ready, counts.done), (4, 1));
    assert_eq!(q.enqueue(&many("keep", 5)).await.unwrap(), [false; 5]);
}

/// A key the handler sees is the job's key, for idempotent effects.
#[tokio::test]
async fn handlers_see_the_jobs_key() {
    let q = engines::memory();
    q.enqueue(&many("k", 3)).await.unwrap();
    let keys = Mutex::new(HashMap::new());
    quick(Worker::new(&q))
        .run_until_idle(|event: EmailEvent| {
            *keys
                .lock()
                .unwrap()
                .entry(event.idempotency_key())
                .or_insert(0) += 1;
            async { Ok::<(), String>(()) }
        })
        .await;
    let keys = keys.into_inner().unwrap();
    assert_eq!(keys.len(), 3);
    assert!(keys.values().all(|n| *n == 1));
}

/// A claim waiting for one of the pool's connections must not stop the
/// handlers holding the others from settling: with more handlers than
/// connections, the worker used to stall until the pool's wait timed out
/// (each stall counted as a queue error).
#[tokio::test]
async fn a_worker_with_more_handlers_than_pooled_connections_never_stalls() {
    let q = engines::postgres().await;
    q.enqueue(&many("pool", 300)).await.unwrap();
    let report = tokio::time::timeout(
        Duration::from_secs(120),
        quick(Worker::new(&q))
            .with_concurrency(64)
            .run_until_idle(|_| async {
                tokio::task::yield_now().await;
                Ok::<(), String>(())
            }),
    )
    .await
    .expect("the worker finished");
    assert_eq!((report.handled, report.queue_errors), (300, 0));
}

/// An idle worker (on `worker_side`) polling only every 10 s handles an
/// event enqueued (through `receiver`) within 2 s: it was woken
/// (PostgreSQL's `LISTEN`, SQLite's in-process wake-up), not polled. A claim
/// past the 10 s poll fails the test.
async fn woken_within_a_poll(receiver: &impl Queue, worker_side: &impl Queue) {
    let done = tokio::sync::Notify::new();
    let worker = Worker::new(worker_side).with_poll_interval(Duration::from_secs(10));
    let handled = AtomicUsize::new(0);
    let feed = async {
        // The worker is idle: its first claim found nothing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        receiver.enqueue(&jobs(&["wake"])).await.unwrap();
        let woken = tokio::time::timeout(Duration::from_secs(2), async {
            while handled.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        done.notify_one();
        woken.expect("the idle worker was not woken by the enqueue");
    };
    let (report, ()) = tokio::join!(
        worker.run(
            |_: EmailEvent| {
                handled.fetch_add(1, Ordering::SeqCst);
                async { Ok::<(), String>(()) }
            },
            done.notified()
        ),
        feed
    );
    assert_eq!(report.handled, 1);
}

/// An enqueue whose wake-up comes while the worker's claim is on its way
/// (its query ran before the job was there) is handled at once, not a
/// poll later: the wake-up is kept for the next claim.
async fn a_wake_up_during_a_claim_is_kept(queue: &impl Queue) {
    // Every claim after the first answers 400 ms after its query ran.
    let faults = Faults {
        slow_claims_after: Some(1),
        slow: Duration::from_millis(400),
        ..Faults::default()
    };
    let slow_claims = Faulty::new(queue, &faults);
    let done = tokio::sync::Notify::new();
    let worker = Worker::new(&slow_claims).with_poll_interval(Duration::from_secs(10));
    let handled = AtomicUsize::new(0);
    let feed = async {
        // Idle (its first claim found nothing): woken by "first" at 300 ms,
        // its claim answers at about 700 ms; having found a job it claims
        // again at once, a query that finds nothing and answers at about
        // 1,100 ms. "second" comes in between.
        tokio::time::sleep(Duration::from_millis(300)).await;
        queue.enqueue(&jobs(&["first"])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        queue.enqueue(&jobs(&["second"])).await.unwrap();
        let woken = tokio::time::timeout(Duration::from_secs(3), async {
            while handled.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        done.notify_one();
        woken.expect("the wake-up that came during a claim was lost");
    };
    let (report, ()) = tokio::join!(
        worker.run(
            |_: EmailEvent| {
                handled.fetch_add(1, Ordering::SeqCst);
                async { Ok::<(), String>(()) }
            },
            done.notified()
        ),
        feed
    );
    assert_eq!(report.handled, 2);
}

#[tokio::test]
async fn sqlite_keeps_a_wake_up_that_came_during_a_claim() {
    a_wake_up_during_a_claim_is_kept(&engines::sqlite().0).await;
}

/// A queue that outlives the runtime its listener ran on (a queue shared
/// across runtimes, a `block_on` per job) still wakes its workers: the next
/// worker that waits starts the listener again.
#[test]
fn postgres_restarts_its_listener_after_its_runtime_ended() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let config = runtime().block_on(engines::postgres_database(
        "EMAIL_WEBHOOKS_TEST_POSTGRES_URL",
    ));
    let queue = runtime().block_on(engines::postgres_at(&config));
    // A worker waits (the listener starts), then its runtime ends.
    runtime().block_on(async {
        // Woken once the listener listens, or not within 300 ms: either way
        // it has started.
        let _ = tokio::time::timeout(Duration::from_millis(300), queue.wait_for_jobs()).await;
    });
    runtime().block_on(async {
        let receiver = engines::postgres_at(&config).await;
        woken_within_a_poll(&receiver, &queue).await;
    });
}

#[tokio::test]
async fn postgres_keeps_a_wake_up_that_came_during_a_claim() {
    a_wake_up_during_a_claim_is_kept(&engines::postgres().await).await;
}

#[tokio::test]
async fn postgres_wakes_idle_workers_on_enqueue() {
    let queue = engines::postgres().await;
    woken_within_a_poll(&queue, &queue).await;
}

#[tokio::test]
async fn postgres_wakes_the_workers_of_another_queue_value_on_the_same_table() {
    // Receiver and worker in different processes share only the table:
    // here, two queues connected separately.
    let config = engines::postgres_database("EMAIL_WEBHOOKS_TEST_POSTGRES_URL").await;
    let receiver = engines::postgres_at(&config).await;
    woken_within_a_poll(&receiver, &engines::postgres_at(&config).await).await;
}

#[tokio::test]
async fn sqlite_wakes_idle_workers_of_its_process_on_enqueue() {
    let queue = engines::sqlite().0;
    woken_within_a_poll(&queue, &queue).await;
}

#[tokio::test]
async fn redis_consumers_name_their_process_and_idle_ones_are_removed() {
    let prefix = engines::unique("consumers");
    let gone = engines::redis_at("EMAIL_WEBHOOKS_TEST_REDIS_URL", &prefix)
        .await
        .with_consumer_name("replica a/1");
    assert_eq!(gone.consumer_name(), "replica_a_1");
    let live = engines::redis_at("EMAIL_WEBHOOKS_TEST_REDIS_URL", &prefix)
        .await
        .with_idle_consumer_bound(Duration::from_millis(300));
    assert!(
        live.consumer_name()
            .contains(&format!("-{}-", std::process::id())),
        "{}",
        live.consumer_name()
    );
    // A consumer holding an entry is kept however long it is idle.
    let holder = engines::redis_at("EMAIL_WEBHOOKS_TEST_REDIS_URL", &prefix)
        .await
        .with_consumer_name("holder");
    // The stopped replica had handled an event: a consumer owning nothing.
    gone.enqueue(&jobs(&["handled"])).await.unwrap();
    let handled = gone.claim(1, LEASE).await.unwrap().pop().unwrap();
    gone.complete(&handled).await.unwrap();
    holder.enqueue(&jobs(&["held"])).await.unwrap();
    assert_eq!(holder.claim(1, LEASE).await.unwrap().len(), 1);

    let client = ::redis::Client::open(engines::env("EMAIL_WEBHOOKS_TEST_REDIS_URL")).unwrap();
    let connection = client.get_multiplexed_async_connection().await.unwrap();
    let stream = format!("{prefix}stream");
    let names = |connection: &::redis::aio::MultiplexedConnection| {
        let stream = stream.clone();
        let mut connection = connection.clone();
        async move {
            let info: Vec<std::collections::HashMap<String, ::redis::Value>> =
                ::redis::cmd("XINFO")
                    .arg("CONSUMERS")
                    .arg(&stream)
                    .arg("workers")
                    .query_async(&mut connection)
                    .await
                    .unwrap();
            let mut names: Vec<String> = info
                .iter()
                .map(|c| ::redis::from_redis_value(&c["name"]).unwrap())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(names(&connection).await, ["holder", "replica_a_1"]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(live.claim(1, LEASE).await.unwrap().is_empty());
    let after = names(&connection).await;
    assert!(!after.contains(&"replica_a_1".to_owned()), "{after:?}");
    assert!(after.contains(&"holder".to_owned()), "{after:?}");
}
