//! Telemetry through the ecosystem's facades, each behind its feature:
//! `tracing` (events with the provider, outcome code, event counts and
//! latency) and `metrics` (counters and histograms). Without the features
//! every call here compiles to nothing. Never records a secret, a body or
//! an address.

use std::time::Duration;

/// A receiver's delivery, once answered.
#[cfg(any(feature = "axum", feature = "actix-web"))]
#[allow(unused_variables)]
pub(crate) fn delivery(
    provider: &str,
    code: &'static str,
    status: u16,
    events: usize,
    duplicates: usize,
    latency: Duration,
) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "email_webhooks::delivery",
        provider,
        code,
        status,
        events,
        duplicates,
        latency_ms = latency.as_secs_f64() * 1000.0,
        "webhook delivery"
    );
    #[cfg(feature = "metrics")]
    {
        let provider = provider.to_owned();
        if code == "ok" {
            metrics::counter!("email_webhooks_verified_total", "provider" => provider.clone())
                .increment(1);
        } else {
            metrics::counter!("email_webhooks_refused_total", "provider" => provider.clone(), "code" => code).increment(1);
        }
        metrics::counter!("email_webhooks_duplicates_total", "provider" => provider.clone())
            .increment(duplicates as u64);
        metrics::histogram!("email_webhooks_delivery_seconds", "provider" => provider)
            .record(latency.as_secs_f64());
    }
}

/// Events durably enqueued by a handoff.
#[cfg(any(feature = "axum", feature = "actix-web"))]
#[allow(unused_variables)]
pub(crate) fn enqueued(provider: &str, count: usize) {
    #[cfg(feature = "metrics")]
    metrics::counter!("email_webhooks_enqueued_total", "provider" => provider.to_owned())
        .increment(count as u64);
}

/// How long a handoff's enqueue took.
#[allow(unused_variables)]
pub(crate) fn enqueue_latency(latency: Duration) {
    #[cfg(feature = "metrics")]
    metrics::histogram!("email_webhooks_enqueue_seconds").record(latency.as_secs_f64());
}

/// A worker claimed a job: how long it waited in the queue.
#[cfg(feature = "worker")]
#[allow(unused_variables)]
pub(crate) fn claimed(job: &crate::queue::ClaimedJob) {
    if job.taken_over {
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: "email_webhooks::worker",
            provider = job_provider(&job.key),
            key = %key_digest(&job.key),
            attempt = job.attempts.saturating_add(1),
            "job taken over: its earlier claim's lease ended unsettled (a worker crashed, was killed or stalled)"
        );
        #[cfg(feature = "metrics")]
        metrics::counter!("email_webhooks_takeovers_total").increment(1);
    }
    #[cfg(feature = "metrics")]
    {
        let lag = std::time::SystemTime::now()
            .duration_since(job.enqueued_at)
            .unwrap_or_default();
        metrics::histogram!("email_webhooks_queue_lag_seconds").record(lag.as_secs_f64());
    }
}

/// One event of a delivery, at DEBUG under the delivery's span (provider
/// and delivery id): its key's digest (as the worker's lines carry it) and
/// what became of it (`enqueued`, `claimed`, `duplicate`, `in_progress`).
#[allow(unused_variables)]
pub(crate) fn event(key: &str, outcome: &'static str) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "email_webhooks::event",
        key = %key_digest(key),
        outcome,
        "event received"
    );
}

/// A queue's state as gauges: jobs ready, running and dead, and the age of
/// the oldest ready job (0 when none waits).
#[cfg(all(feature = "worker", feature = "metrics"))]
pub(crate) fn queue_gauges(counts: &crate::queue::QueueCounts) {
    #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
    {
        metrics::gauge!("email_webhooks_queue_jobs", "state" => "ready").set(counts.ready as f64);
        metrics::gauge!("email_webhooks_queue_jobs", "state" => "running")
            .set(counts.running as f64);
        metrics::gauge!("email_webhooks_queue_jobs", "state" => "dead").set(counts.dead as f64);
    }
    let age = counts.oldest_ready.map_or(0.0, |at| {
        std::time::SystemTime::now()
            .duration_since(at)
            .unwrap_or_default()
            .as_secs_f64()
    });
    metrics::gauge!("email_webhooks_queue_oldest_ready_seconds").set(age);
}

/// A worker settled a job (`handled`, `retried`, `dead_lettered`, `stale`,
/// `queue_error`).
#[cfg(feature = "worker")]
#[allow(unused_variables)]
pub(crate) fn settled(job: &crate::queue::ClaimedJob, outcome: &'static str, latency: Duration) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "email_webhooks::worker",
        outcome,
        provider = job_provider(&job.key),
        key = %key_digest(&job.key),
        // Counted from 1: the first run is attempt 1.
        attempt = job.attempts.saturating_add(1),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "job settled"
    );
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("email_webhooks_jobs_total", "outcome" => outcome).increment(1);
        metrics::histogram!("email_webhooks_handler_seconds").record(latency.as_secs_f64());
    }
}

/// A queue call failed (the worker waits and goes on): logged at WARN
/// with its cause, at most once a second (a worker retrying every poll
/// must not flood the log), and counted every time.
#[cfg(feature = "worker")]
#[allow(unused_variables)]
pub(crate) fn queue_error(operation: &'static str, error: &crate::idempotency::StoreError) {
    #[cfg(feature = "tracing")]
    {
        static LAST: Throttle = Throttle::new();
        if let Some(suppressed) = LAST.pass() {
            tracing::warn!(
                target: "email_webhooks::worker",
                operation,
                code = error.code(),
                cause = %causes(error),
                suppressed,
                "queue call failed"
            );
        }
    }
    #[cfg(feature = "metrics")]
    metrics::counter!("email_webhooks_queue_errors_total", "operation" => operation).increment(1);
}

/// A delivery answered 5xx: its cause (the error and its sources, never a
/// secret, body or address: errors of this crate hold none) at WARN, at
/// most once a second, so that the operator sees why a provider is being
/// told to retry.
#[cfg(any(feature = "axum", feature = "actix-web"))]
#[allow(unused_variables)]
pub(crate) fn failure(provider: &str, status: u16, error: &crate::Error) {
    #[cfg(feature = "tracing")]
    {
        static LAST: Throttle = Throttle::new();
        if let Some(suppressed) = LAST.pass() {
            tracing::warn!(
                target: "email_webhooks::delivery",
                provider,
                status,
                code = error.code(),
                cause = %causes(error),
                suppressed,
                "webhook delivery failed"
            );
        }
    }
}

/// An error and its sources, `: `-separated, within 1,000 characters.
#[cfg(all(
    feature = "tracing",
    any(feature = "axum", feature = "actix-web", feature = "worker")
))]
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // A wrapper often repeats its source's text.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    if text.len() > 1_000 {
        let mut end = 1_000;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Lets one log line through per second; says how many it held back.
#[cfg(all(
    feature = "tracing",
    any(feature = "axum", feature = "actix-web", feature = "worker")
))]
struct Throttle {
    /// Milliseconds since the process's first throttled line, plus one (0:
    /// never).
    last: std::sync::atomic::AtomicU64,
    held: std::sync::atomic::AtomicU64,
}

#[cfg(all(
    feature = "tracing",
    any(feature = "axum", feature = "actix-web", feature = "worker")
))]
impl Throttle {
    const fn new() -> Self {
        Self {
            last: std::sync::atomic::AtomicU64::new(0),
            held: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// `Some(lines held back since the last)` when a line may pass.
    fn pass(&self) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let now = u64::try_from(
            START
                .get_or_init(std::time::Instant::now)
                .elapsed()
                .as_millis(),
        )
        .unwrap_or(u64::MAX)
        .saturating_add(1);
        let last = self.last.load(Relaxed);
        if last != 0 && now.saturating_sub(last) < 1_000 {
            self.held.fetch_add(1, Relaxed);
            return None;
        }
        if self
            .last
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_err()
        {
            self.held.fetch_add(1, Relaxed);
            return None;
        }
        Some(self.held.swap(0, Relaxed))
    }
}

/// The provider a job's key names (keys start `{provider}:`).
#[cfg(all(feature = "worker", feature = "tracing"))]
fn job_provider(key: &str) -> &str {
    key.split(':').next().unwrap_or_default()
}

/// A job's key as logs carry it: a short digest, the same in every line of
/// the job's life, so one event can be followed from its delivery to its
/// settlement without its key (which may hold an address) in the logs.
#[cfg(feature = "tracing")]
fn key_digest(key: &str) -> String {
    use sha2::Digest as _;
    crate::encoding::hex(&sha2::Sha256::digest(key.as_bytes())[..6])
}
