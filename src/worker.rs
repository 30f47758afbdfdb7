//! The consumer side of the durable handoff (feature `worker`, enabled by
//! every queue engine's feature): a [`Worker`] claims events from a
//! [`Queue`], runs your handler with a concurrency limit, completes what
//! succeeded, retries what failed with exponential backoff and jitter, and
//! moves what keeps failing to the dead-letter set.
//!
//! ```no_run
//! # #[cfg(feature = "sqlite")]
//! # async fn demo() -> Result<(), email_webhooks::idempotency::StoreError> {
//! use email_webhooks::queue::SqliteQueue;
//! use email_webhooks::worker::Worker;
//!
//! let queue = SqliteQueue::open("events.db")?;
//! let worker = Worker::new(queue).with_concurrency(16);
//! let report = worker
//!     .run(
//!         |event| async move {
//!             println!("{} {:?}", event.kind, event.recipient);
//!             Ok::<(), std::io::Error>(())
//!         },
//!         // Ctrl-C or SIGTERM: a graceful stop.
//!         email_webhooks::worker::shutdown_signal(),
//!     )
//!     .await;
//! println!("{report:?}");
//! # Ok(())
//! # }
//! ```
//!
//! Exactly once in effect: a key is completed at most once (the queue's
//! fence refuses a stale claim), across crashes and replicas. A handler
//! whose worker dies after it returned but before the completion was
//! recorded runs again when the lease ends; key its effects by
//! [`EmailEvent::idempotency_key`] (the job's key) to make that harmless.
//!
//! Leases are short (30 seconds by default) and kept alive: while a handler
//! runs, the worker renews its claim every third of the lease (a
//! heartbeat), so a slow handler keeps its event for as long as it runs,
//! while the events of a worker that crashed or was killed are taken over
//! by another within the lease plus one poll. A handler that runs past
//! [`Worker::with_handler_timeout`] (5 minutes by default) is cancelled and
//! counts as a failed attempt: one that hangs ends in the dead-letter set
//! instead of holding a slot. A worker whose claim was taken over (its
//! heartbeats failed for a whole lease) cancels its handler.

use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::stream::{FuturesUnordered, StreamExt as _};

use crate::{EmailEvent, InboundMessage};

/// What a queue's payloads decode to: events, or inbound messages (each
/// kind has its own queue).
trait Job: Sized {
    fn decode(payload: &str, custom: &[&'static str]) -> Result<Self, UndecodablePayload>;
}

impl Job for EmailEvent {
    fn decode(payload: &str, custom: &[&'static str]) -> Result<Self, UndecodablePayload> {
        decode_event(payload, custom)
    }
}

impl Job for InboundMessage {
    fn decode(payload: &str, _custom: &[&'static str]) -> Result<Self, UndecodablePayload> {
        crate::queue::decode_inbound(payload)
    }
}
use crate::queue::{ClaimedJob, Queue, Settlement, StoreError, UndecodablePayload, decode_event};

/// Exponential backoff with jitter between a failed event's attempts: the
/// n-th retry waits a random time between half and all of
/// `min(max, base × 2ⁿ⁻¹)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry's delay (before jitter).
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 second, doubling, up to 10 minutes.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(600),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1 for the first), with
    /// jitter drawn from `random` (uniform over `u64`).
    #[must_use]
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(62);
        let full = self
            .base
            .checked_mul(1u32 << exponent.min(31))
            .map_or(self.max, |d| d.min(self.max));
        let full = if exponent > 31 { self.max } else { full };
        // Between half and all of it.
        let nanos = u64::try_from(full.as_nanos()).unwrap_or(u64::MAX);
        let half = nanos / 2;
        let jitter = if half == 0 { 0 } else { random % (half + 1) };
        Duration::from_nanos(half + jitter)
    }
}

/// What a [`Worker::run`] did, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Events handled and completed.
    pub handled: u64,
    /// Handler failures put back for a retry.
    pub retried: u64,
    /// Events moved to the dead-letter set.
    pub dead_lettered: u64,
    /// Jobs this worker lost to another (its lease ended before it could
    /// renew or settle it): the handler was cancelled, or its settlement
    /// refused.
    pub stale: u64,
    /// Jobs this worker took over from a claim whose lease had ended (a
    /// worker that crashed, was killed or stalled).
    pub taken_over: u64,
    /// Events given back unfinished at shutdown.
    pub released: u64,
    /// Queue calls that failed (the worker waits and goes on): each failed
    /// claim and release, and each settlement given up after retrying for
    /// a lease. The metric `email_webhooks_queue_errors_total{operation}`
    /// counts every failed call instead: each failed renewal and each
    /// failed try of a settlement too.
    pub queue_errors: u64,
}

/// How often a worker records its queue's gauges (feature `metrics`).
#[cfg(feature = "metrics")]
const GAUGE_INTERVAL: Duration = Duration::from_secs(10);

/// A count of the queue's jobs in flight, for the gauges.
#[cfg(feature = "metrics")]
type Counting<'a> = std::pin::Pin<
    Box<dyn Future<Output = Result<crate::queue::QueueCounts, StoreError>> + Send + 'a>,
>;

/// A worker's queue gauges (feature `metrics`): every
/// [`GAUGE_INTERVAL`] the queue's jobs are counted, beside the handlers (a
/// slow count holds nothing up), and recorded. Without the feature,
/// nothing is counted.
struct Gauges<'a> {
    #[cfg(feature = "metrics")]
    every: tokio::time::Interval,
    #[cfg(feature = "metrics")]
    counting: Option<Counting<'a>>,
    #[cfg(not(feature = "metrics"))]
    none: std::marker::PhantomData<&'a ()>,
}

impl<'a> Gauges<'a> {
    fn new() -> Self {
        Self {
            #[cfg(feature = "metrics")]
            every: tokio::time::interval(GAUGE_INTERVAL),
            #[cfg(feature = "metrics")]
            counting: None,
            #[cfg(not(feature = "metrics"))]
            none: std::marker::PhantomData,
        }
    }

    /// Never resolves; cancel-safe (a count in flight is kept).
    #[cfg_attr(not(feature = "metrics"), allow(clippy::unused_async))]
    async fn run<Q: Queue>(&mut self, queue: &'a Q) {
        #[cfg(feature = "metrics")]
        loop {
            if let Some(count) = self.counting.as_mut() {
                if let Ok(counts) = count.await {
                    crate::telemetry::queue_gauges(&counts);
                }
                self.counting = None;
            } else {
                self.every.tick().await;
                self.counting = Some(Box::pin(queue.counts()));
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = queue;
            std::future::pending::<()>().await;
        }
    }
}

/// A claim in flight.
type Claiming<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<Vec<ClaimedJob>, StoreError>> + Send + 'a>>;

/// The claim in flight, or never (a `select!` branch enabled only while
/// there is one).
async fn in_flight(claiming: &mut Option<Claiming<'_>>) -> Result<Vec<ClaimedJob>, StoreError> {
    match claiming.as_mut() {
        Some(claim) => claim.await,
        None => std::future::pending().await,
    }
}

/// A job's settlement under way.
type Settling<'a> = std::pin::Pin<Box<dyn Future<Output = Settled> + Send + 'a>>;

/// An engine's wake-up ([`Queue::wait_for_jobs`]).
type Wake<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// How a job's run ended, before its settlement.
enum Ran {
    /// The handler succeeded.
    Done,
    /// It failed (or the job cannot be run); `true`: never try it again.
    Failed(String, bool),
    /// The claim was lost to another worker while the handler ran.
    Lost,
}

enum Settled {
    Handled,
    Retried,
    Buried,
    Stale,
    Failed,
}

/// Runs a handler over a [`Queue`]'s events. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Worker<Q> {
    queue: Q,
    concurrency: usize,
    lease: Duration,
    handler_timeout: Duration,
    max_attempts: u32,
    backoff: Backoff,
    poll: Duration,
    grace: Duration,
    custom: Vec<&'static str>,
}

impl<Q: Queue> Worker<Q> {
    /// A worker over `queue` (share one with the receiver by cloning it, or
    /// through an `Arc`): 8 events at a time, a 30-second lease renewed
    /// while the handler runs, handlers cancelled after 5 minutes, 8
    /// attempts before the dead-letter set, [`Backoff::default`], polling
    /// every 200 ms when idle (or woken at once by engines that can be),
    /// 30 seconds' grace at shutdown.
    pub fn new(queue: Q) -> Self {
        Self {
            queue,
            concurrency: 8,
            lease: Duration::from_secs(30),
            handler_timeout: Duration::from_secs(300),
            max_attempts: 8,
            backoff: Backoff::default(),
            poll: Duration::from_millis(200),
            grace: Duration::from_secs(30),
            custom: Vec::new(),
        }
    }

    /// At most `concurrency` (at least 1) handlers run at once.
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.clamp(1, crate::queue::MAX_BATCH);
        self
    }

    /// How long a claimed event stays this worker's without a heartbeat:
    /// the worker renews the lease every third of it while the handler
    /// runs, so this bounds how long the events of a worker that crashed
    /// (or lost its engine) wait before another takes them over, not how
    /// long a handler may run ([`with_handler_timeout`](Self::with_handler_timeout)).
    /// Keep it well above the engine's worst round trip. At least 30 ms,
    /// capped at [`MAX_TTL`](crate::idempotency::MAX_TTL).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = crate::idempotency::capped(lease).max(Duration::from_millis(30));
        self
    }

    /// How long a handler may run: past it, it is cancelled (its future
    /// dropped) and counted as a failed attempt, so a handler that hangs
    /// neither holds a slot for ever nor escapes the dead-letter set. Make
    /// it longer than your handler's slowest run. Capped at
    /// [`MAX_TTL`](crate::idempotency::MAX_TTL).
    #[must_use]
    pub fn with_handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = crate::idempotency::capped(timeout);
        self
    }

    /// After `attempts` (at least 1) failures an event goes to the
    /// dead-letter set.
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delays between attempts.
    #[must_use]
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How often an idle worker looks for new events (at least 1 ms: a
    /// worker never claims in a busy loop).
    #[must_use]
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = crate::idempotency::capped(poll).max(Duration::from_millis(1));
        self
    }

    /// How long shutdown waits for running handlers before giving their
    /// events back to the queue.
    #[must_use]
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = crate::idempotency::capped(grace);
        self
    }

    /// The names of your own providers ([`Provider::Custom`](crate::Provider::Custom))
    /// whose events this worker may read back.
    #[must_use]
    pub fn with_custom_providers(mut self, names: &[&'static str]) -> Self {
        self.custom = names.to_vec();
        self
    }

    /// The queue.
    pub fn queue(&self) -> &Q {
        &self.queue
    }

    /// Runs `handler` on the queue's events until `shutdown` resolves, then
    /// stops claiming, waits up to the grace period for running handlers,
    /// and gives back the events of those still running. A handler that
    /// panics counts as failed. Queue failures are counted and waited out:
    /// the worker keeps going through a restart of its engine.
    pub async fn run<H, Fut, E>(
        &self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> WorkerReport
    where
        H: Fn(EmailEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        self.drive(&handler, shutdown, false).await
    }

    /// Runs `handler` until the queue has nothing ready or running (every
    /// event done or dead), waiting out retry delays. For tests, batch jobs
    /// and the tour.
    pub async fn run_until_idle<H, Fut, E>(&self, handler: H) -> WorkerReport
    where
        H: Fn(EmailEvent) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        self.drive(&handler, std::future::pending(), true).await
    }

    /// [`run`](Self::run) for a queue of inbound messages (filled by the
    /// adapters' inbound handoff route): runs `handler` on each
    /// [`InboundMessage`] until `shutdown` resolves.
    pub async fn run_inbound<H, Fut, E>(
        &self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> WorkerReport
    where
        H: Fn(InboundMessage) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        self.drive(&handler, shutdown, false).await
    }

    /// [`run_until_idle`](Self::run_until_idle) for a queue of inbound
    /// messages.
    pub async fn run_inbound_until_idle<H, Fut, E>(&self, handler: H) -> WorkerReport
    where
        H: Fn(InboundMessage) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        self.drive(&handler, std::future::pending(), true).await
    }

    async fn drive<T, H, Fut, E>(
        &self,
        handler: &H,
        shutdown: impl Future<Output = ()>,
        until_idle: bool,
    ) -> WorkerReport
    where
        T: Job,
        H: Fn(T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let mut report = WorkerReport::default();
        // Jobs whose handler runs (or is about to), to give back at
        // shutdown; keyed by the engine's handle and the fence, which
        // together name one claim (a key alone may be claimed again).
        let mut held: HashMap<(String, u64), ClaimedJob> = HashMap::new();
        // Handlers, then settlements: a settlement under way is never
        // cancelled by the end of the grace period (its handler's work
        // would run again).
        let mut running = FuturesUnordered::new();
        let mut settling: FuturesUnordered<Settling<'_>> = FuturesUnordered::new();
        let shutdown = shutdown.fuse();
        let mut shutdown = std::pin::pin!(shutdown);
        // The claim in flight, polled together with the running handlers:
        // a claim waiting for a pooled connection must not stop the
        // handlers that hold the others from settling.
        let mut claiming: Option<Claiming<'_>> = None;
        let mut claimed_at = Instant::now();
        let mut next_claim = tokio::time::Instant::now();
        let mut found_none = false;
        // The engine's wake-up, kept across claims: one that comes while a
        // claim is in flight is not lost (the claim may have missed the
        // job), it makes the next claim start at once.
        let mut wake: Wake<'_> = Box::pin(self.queue.wait_for_jobs());
        let mut woken = false;
        let mut gauges = Gauges::new();
        loop {
            let room = self
                .concurrency
                .saturating_sub(running.len() + settling.len());
            let now = tokio::time::Instant::now();
            if claiming.is_none() && room > 0 && now >= next_claim {
                woken = false;
                claimed_at = Instant::now();
                claiming = Some(Box::pin(self.queue.claim(room, self.lease)));
            }
            if until_idle
                && found_none
                && claiming.is_none()
                && running.is_empty()
                && settling.is_empty()
                && self.idle().await
            {
                return report;
            }
            let waiting = claiming.is_none() && room > 0;
            tokio::select! {
                () = &mut shutdown => break,
                claimed = in_flight(&mut claiming), if claiming.is_some() => {
                    claiming = None;
                    match claimed {
                        Ok(jobs) => {
                            found_none = jobs.is_empty();
                            if found_none && !woken {
                                next_claim = tokio::time::Instant::now() + self.poll;
                            }
                            for job in jobs {
                                crate::telemetry::claimed(&job);
                                if job.taken_over {
                                    report.taken_over += 1;
                                }
                                held.insert((job.id.clone(), job.fence), job.clone());
                                running.push(self.run_job(job, claimed_at, handler));
                            }
                        }
                        Err(error) => {
                            report.queue_errors += 1;
                            crate::telemetry::queue_error("claim", &error);
                            next_claim = tokio::time::Instant::now() + self.poll;
                        }
                    }
                }
                Some((job, ran, handler_time)) = running.next(), if !running.is_empty() => {
                    settling.push(self.settle_finished(&mut held, job, ran, handler_time));
                }
                Some(settled) = settling.next(), if !settling.is_empty() => {
                    count(&mut report, &settled);
                }
                () = tokio::time::sleep_until(next_claim), if waiting => {}
                () = gauges.run(&self.queue) => {}
                // Woken by the engine: claim at once (after the claim in
                // flight, if any).
                () = &mut wake => {
                    wake = Box::pin(self.queue.wait_for_jobs());
                    woken = true;
                    next_claim = tokio::time::Instant::now();
                }
            }
        }
        self.wind_down(claiming, running, settling, held, &mut report)
            .await;
        report
    }

    /// Shutdown: no new claims. Jobs of a claim still in flight never
    /// started: they go back at once (their leases would otherwise run out
    /// during the grace period, unrenewed). Running handlers get the grace
    /// period; past it they are cancelled and their jobs given back.
    /// Settlements under way always finish (each is bounded by a lease).
    async fn wind_down<'a, R>(
        &'a self,
        mut claiming: Option<Claiming<'a>>,
        mut running: FuturesUnordered<R>,
        mut settling: FuturesUnordered<Settling<'a>>,
        mut held: HashMap<(String, u64), ClaimedJob>,
        report: &mut WorkerReport,
    ) where
        R: Future<Output = (ClaimedJob, Ran, Duration)>,
    {
        let deadline = tokio::time::sleep(self.grace);
        let mut deadline = std::pin::pin!(deadline);
        while claiming.is_some() || !running.is_empty() {
            tokio::select! {
                () = &mut deadline => break,
                claimed = in_flight(&mut claiming), if claiming.is_some() => {
                    claiming = None;
                    self.give_back_unstarted(claimed, report).await;
                }
                Some((job, ran, handler_time)) = running.next(), if !running.is_empty() => {
                    settling.push(self.settle_finished(&mut held, job, ran, handler_time));
                }
                Some(settled) = settling.next(), if !settling.is_empty() => {
                    count(report, &settled);
                }
            }
        }
        // Past the grace period. Handlers that finished meanwhile are
        // settled, not given back; the others are cancelled and their jobs
        // given back at once, before their leases run out.
        while let Some(Some((job, ran, handler_time))) = running.next().now_or_never() {
            settling.push(self.settle_finished(&mut held, job, ran, handler_time));
        }
        drop(running);
        for job in held.values() {
            self.give_back(job, report).await;
        }
        // Then, together: settlements under way finish (each bounded by a
        // lease), and a claim still in flight is waited for (bounded by a
        // lease: its jobs would lapse by then anyway) to give its jobs back.
        let claimed = async {
            match claiming {
                Some(claim) => tokio::time::timeout(self.lease, claim).await.ok(),
                None => None,
            }
        };
        let settled = async {
            let mut all = Vec::new();
            while let Some(settled) = settling.next().await {
                all.push(settled);
            }
            all
        };
        let (claimed, settled) = tokio::join!(claimed, settled);
        for settled in &settled {
            count(report, settled);
        }
        if let Some(claimed) = claimed {
            self.give_back_unstarted(claimed, report).await;
        }
    }

    /// Gives back the jobs of a claim that answered at shutdown, which
    /// never started (counted and logged as claimed, a takeover included);
    /// a failed claim is counted as such.
    async fn give_back_unstarted(
        &self,
        claimed: Result<Vec<ClaimedJob>, StoreError>,
        report: &mut WorkerReport,
    ) {
        match claimed {
            Ok(jobs) => {
                for job in &jobs {
                    crate::telemetry::claimed(job);
                    if job.taken_over {
                        report.taken_over += 1;
                    }
                    self.give_back(job, report).await;
                }
            }
            Err(error) => {
                report.queue_errors += 1;
                crate::telemetry::queue_error("claim", &error);
            }
        }
    }

    /// The settlement of a job whose handler finished (or was never run):
    /// no longer held, so shutdown will not give it back.
    fn settle_finished<'a>(
        &'a self,
        held: &mut HashMap<(String, u64), ClaimedJob>,
        job: ClaimedJob,
        ran: Ran,
        handler_time: Duration,
    ) -> Settling<'a> {
        held.remove(&(job.id.clone(), job.fence));
        Box::pin(self.settle_job(job, ran, handler_time))
    }

    /// Gives a job back to the queue at shutdown.
    async fn give_back(&self, job: &ClaimedJob, report: &mut WorkerReport) {
        match self.queue.settle(job, Settlement::Release).await {
            Ok(()) => report.released += 1,
            Err(error) => {
                report.queue_errors += 1;
                crate::telemetry::queue_error("release", &error);
            }
        }
    }

    async fn idle(&self) -> bool {
        let counts = self.queue.counts().await;
        #[cfg(feature = "metrics")]
        if let Ok(counts) = &counts {
            crate::telemetry::queue_gauges(counts);
        }
        matches!(counts, Ok(c) if c.ready == 0 && c.running == 0)
    }

    /// Runs the handler on `job` (claimed at `claimed_at`) while the
    /// heartbeat keeps its claim; returns the job, how the run ended and
    /// the handler's own time.
    async fn run_job<T, H, Fut, E>(
        &self,
        job: ClaimedJob,
        claimed_at: Instant,
        handler: &H,
    ) -> (ClaimedJob, Ran, Duration)
    where
        T: Job,
        H: Fn(T) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: Display,
    {
        let started = Instant::now();
        let result = match T::decode(&job.payload, &self.custom) {
            // Nothing will ever read it: straight to the dead-letter set.
            Err(error) => Ran::Failed(error.to_string(), true),
            // Its earlier claims lapsed (each counted an attempt) until none
            // is left: the worker stopped while handling it, every time.
            // Running it again could take this worker down too.
            Ok(_) if job.attempts >= self.max_attempts => Ran::Failed(
                format!(
                    "{} attempts failed, the last ones by a claim that lapsed (the worker stopped or stalled while handling it)",
                    job.attempts
                ),
                true,
            ),
            Ok(event) => {
                // A handler may panic building its future, or running it.
                let run =
                    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(event)))
                    {
                        Ok(future) => futures_util::future::Either::Left(
                            std::panic::AssertUnwindSafe(future).catch_unwind(),
                        ),
                        Err(panic) => {
                            futures_util::future::Either::Right(std::future::ready(Err(panic)))
                        }
                    };
                #[cfg(feature = "tracing")]
                let run = tracing::Instrument::instrument(
                    run,
                    tracing::info_span!(
                        "email_webhooks.job",
                        attempt = job.attempts.saturating_add(1)
                    ),
                );
                // A hung handler would hold its slot for ever: bounded.
                let run = tokio::time::timeout(self.handler_timeout, run);
                // Run while the heartbeat keeps the claim; a lost claim
                // drops (cancels) the handler.
                let ran = tokio::select! {
                    output = run => Some(output),
                    () = self.heartbeat(&job, claimed_at) => None,
                };
                match ran {
                    None => Ran::Lost,
                    Some(Ok(Ok(Ok(())))) => Ran::Done,
                    Some(Ok(Ok(Err(error)))) => Ran::Failed(error.to_string(), false),
                    Some(Ok(Err(_))) => Ran::Failed("the handler panicked".to_owned(), false),
                    Some(Err(_)) => Ran::Failed(
                        format!(
                            "the handler did not finish within {} ms and was cancelled",
                            self.handler_timeout.as_millis()
                        ),
                        false,
                    ),
                }
            }
        };
        // The handler's own time, without the settlement's retries.
        (job, result, started.elapsed())
    }

    /// Settles `job` as its run ended: completed, retried after a delay,
    /// buried, or nothing (the claim was lost).
    async fn settle_job(&self, job: ClaimedJob, result: Ran, handler_time: Duration) -> Settled {
        let settled = match result {
            Ran::Done => {
                self.settle(&job, Settlement::Complete, Settled::Handled)
                    .await
            }
            // Another worker has the job now: this one settles nothing.
            Ran::Lost => Settled::Stale,
            Ran::Failed(error, fatal) => {
                let error = stored_error(error);
                let attempt = job.attempts.saturating_add(1);
                if fatal || attempt >= self.max_attempts {
                    self.settle(&job, Settlement::Bury { error: &error }, Settled::Buried)
                        .await
                } else {
                    let delay = self.backoff.delay(attempt, random());
                    let retry = Settlement::Retry {
                        delay,
                        error: &error,
                    };
                    self.settle(&job, retry, Settled::Retried).await
                }
            }
        };
        crate::telemetry::settled(&job, settled_code(&settled), handler_time);
        settled
    }

    /// Renews `job`'s lease every third of it, for as long as it is
    /// polled; resolves when the claim is lost: the engine says another
    /// worker took the job over, or no renewal has succeeded for a whole
    /// lease (the engine unreachable from here, though maybe not from the
    /// other workers, which may take the job over by then). A renewal that
    /// fails otherwise is logged and tried again at the next beat; one may
    /// take as long as the lease has left. The lease is counted from `claimed_at` (when
    /// the claim was sent) and from when each successful renewal was
    /// sent: never later than the engine counts it. Boxed: the worker's
    /// future stays `Send` whatever the queue's futures borrow.
    fn heartbeat<'a>(
        &'a self,
        job: &'a ClaimedJob,
        claimed_at: Instant,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        let every = self.lease / 3;
        Box::pin(async move {
            let mut held_since = claimed_at;
            let mut last_sent = claimed_at;
            loop {
                // A beat after the last renewal was sent (at once when a
                // slow one took longer than a beat to answer).
                let next = last_sent.checked_add(every).unwrap_or(last_sent);
                tokio::time::sleep_until(next.into()).await;
                let sent = Instant::now();
                last_sent = sent;
                // What is left of the lease: a renewal may take up to that
                // (a slow one that lands still keeps the claim); none can
                // once it is over.
                let left = held_since
                    .checked_add(self.lease)
                    .map_or(Duration::MAX, |end| end.saturating_duration_since(sent));
                if left.is_zero() {
                    return;
                }
                match tokio::time::timeout(left, self.queue.renew(job, self.lease)).await {
                    Ok(Ok(())) => held_since = sent,
                    Ok(Err(StoreError::StaleToken)) | Err(_) => return,
                    Ok(Err(error)) => crate::telemetry::queue_error("renew", &error),
                }
            }
        })
    }

    /// Settles a job, retrying the queue call for up to a lease from when
    /// settling starts (an engine restarting): a handled event whose
    /// completion was lost would otherwise run again. Past the claim's lease
    /// another worker may have taken the job over; the fence then refuses
    /// this settlement.
    async fn settle(&self, job: &ClaimedJob, settlement: Settlement<'_>, done: Settled) -> Settled {
        let until = Instant::now() + self.lease;
        let mut wait = Duration::from_millis(50);
        loop {
            match self.queue.settle(job, settlement).await {
                Ok(()) => return done,
                Err(StoreError::StaleToken) => return Settled::Stale,
                Err(error) => {
                    crate::telemetry::queue_error("settle", &error);
                    if Instant::now() + wait >= until {
                        return Settled::Failed;
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

fn settled_code(settled: &Settled) -> &'static str {
    match settled {
        Settled::Handled => "handled",
        Settled::Retried => "retried",
        Settled::Buried => "dead_lettered",
        Settled::Stale => "stale",
        Settled::Failed => "queue_error",
    }
}

fn count(report: &mut WorkerReport, settled: &Settled) {
    match settled {
        Settled::Handled => report.handled += 1,
        Settled::Retried => report.retried += 1,
        Settled::Buried => report.dead_lettered += 1,
        Settled::Stale => report.stale += 1,
        Settled::Failed => report.queue_errors += 1,
    }
}

fn random() -> u64 {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 8];
    // A failed draw only removes the jitter.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// The most bytes of a handler's error kept with its job.
const MAX_ERROR_BYTES: usize = 4096;

/// A handler's error as the queue keeps it: at most [`MAX_ERROR_BYTES`]
/// (cut on a character boundary, marked with `…`), and without NUL
/// characters, which PostgreSQL refuses in text (the settlement would fail
/// every time, and the job would never reach the dead-letter set).
fn stored_error(mut error: String) -> String {
    if error.contains('\0') {
        error = error.replace('\0', "\u{FFFD}");
    }
    if error.len() > MAX_ERROR_BYTES {
        let mut end = MAX_ERROR_BYTES;
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        error.truncate(end);
        error.push('…');
    }
    error
}

/// Resolves when the process is asked to stop: Ctrl-C, or on Unix the
/// `SIGTERM` that systemd, Docker and Kubernetes send. Pass it to
/// [`Worker::run`] so that a stop is a graceful shutdown (running handlers
/// finish within the grace period, the others' events are given back), not
/// a crash that leaves events to wait out their lease.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                // No handler could be installed: Ctrl-C still works.
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_caps() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        for attempt in 1..=40u32 {
            let full = Duration::from_secs(1u64 << (attempt - 1).min(20)).min(backoff.max);
            for random in [0, 1, u64::MAX / 3, u64::MAX] {
                let d = backoff.delay(attempt, random);
                assert!(d >= full / 2 && d <= full, "{attempt} {random} {d:?}");
            }
        }
        let last = backoff.delay(u32::MAX, u64::MAX);
        assert!(last >= Duration::from_secs(30) && last <= Duration::from_secs(60));
        let zero = Backoff {
            base: Duration::ZERO,
            max: Duration::ZERO,
        };
        assert_eq!(zero.delay(3, 5), Duration::ZERO);
    }
}
