//! Durable handoff: answer the provider as soon as a delivery's new events
//! are safely stored, and handle them in a `Worker` (feature `worker`)
//! that retries, dead-letters and survives crashes.
//!
//! [`Pipeline::hand_off`](crate::pipeline::Pipeline::hand_off) verifies and
//! parses a delivery, then [`Queue::enqueue`]s its events in one atomic,
//! idempotent call keyed by each event's idempotency key: a redelivered
//! batch enqueues nothing new, and the answer is 2xx only once the enqueue
//! is durable (a failure answers 503, so the provider retries).
//!
//! A queue keeps one record per key through its whole life:
//!
//! | state | meaning |
//! |---|---|
//! | ready | waiting, or waiting out a retry delay |
//! | running | claimed by a worker under a lease; an expired lease is claimed again (the worker crashed) |
//! | done | handled; kept for the retention period so that redeliveries are duplicates |
//! | dead | failed too many times; listed by [`Queue::dead_letters`], back to ready by [`Queue::requeue`] |
//!
//! Every claim carries a *fence* (a number that grows on each claim of the
//! key): completing, retrying, releasing or burying a job whose fence is no
//! longer current is refused with [`StoreError::StaleToken`]. So a worker
//! that stalled past its lease, while another took the job over, cannot
//! complete it a second time: a key is completed at most once. A handler
//! that finished but whose worker died before completing runs again when
//! the lease expires (at least once); make handlers' effects idempotent by
//! the job's key, as the suppression example does, for exactly once in
//! effect.
//!
//! Engines (each uses the engine's own durability and locking):
//!
//! - `SqliteQueue` (feature `sqlite`): embedded, a file in WAL mode with
//!   `synchronous=FULL`; the single-machine default, shared by processes on
//!   one machine.
//! - `PostgresQueue` (feature `postgres`): an outbox table claimed with
//!   `FOR UPDATE SKIP LOCKED`, for many replicas.
//! - `RedisQueue` (feature `redis`): a Redis Stream with a consumer group;
//!   `XCLAIM` takes over a crashed consumer's entries when their lease ends. As durable as the
//!   server's persistence (use `appendonly yes`).
//! - [`MemoryQueue`]: for tests and demos only. **It loses every event on a
//!   crash or restart**; never answer a provider 2xx on it in production.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

pub use crate::idempotency::StoreError;
use crate::{EmailEvent, EventKind, Provider, RejectReason};

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use crate::inbound::{decode_inbound, encode_inbound};
pub use memory::MemoryQueue;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresQueue;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisQueue;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteQueue;

/// How long a queue remembers a handled key by default (so that a
/// provider's redelivery is a duplicate): 7 days, longer than every
/// supported provider's retry schedule (SendGrid's 72 hours is the longest).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The most jobs one [`Queue::claim`] or [`Queue::dead_letters`] call
/// returns, whatever the caller asks.
pub const MAX_BATCH: usize = 1_000;

/// An event to enqueue: its idempotency key and its encoded form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The event's idempotency key (the queue's primary key).
    pub key: String,
    /// The event, encoded by [`encode_event`].
    pub payload: String,
}

impl NewJob {
    /// The job for `event`, keyed by [`EmailEvent::idempotency_key`].
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the event cannot be encoded (a timestamp
    /// set by hand outside what RFC 3339 can write).
    pub fn for_event(event: &EmailEvent) -> Result<Self, StoreError> {
        Self::keyed(event, event.idempotency_key())
    }

    /// The job for `event` under `key`, its idempotency key computed
    /// already (moved in, not copied, unless it must be shortened).
    pub(crate) fn keyed(event: &EmailEvent, key: String) -> Result<Self, StoreError> {
        Ok(Self::stored(key, encode_event(event)?))
    }

    /// A job of `payload` under `key` in its stored form (moved in, not
    /// copied, unless it must be shortened).
    pub(crate) fn stored(key: String, payload: String) -> Self {
        let key = match crate::idempotency::storage_key(&key) {
            std::borrow::Cow::Borrowed(_) => key,
            std::borrow::Cow::Owned(short) => short,
        };
        Self { key, payload }
    }
}

/// A job a worker claimed: run it, then settle it once
/// ([`Queue::settle`]: complete, retry, release or bury).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The engine's handle for the job (the Redis stream entry id; the key
    /// elsewhere).
    pub id: String,
    /// The event's idempotency key.
    pub key: String,
    /// The encoded event ([`decode_event`]).
    pub payload: String,
    /// How many attempts at it failed before: each handler failure, and
    /// each claim that lapsed (its lease ended unsettled: the worker
    /// crashed or stalled).
    pub attempts: u32,
    /// This claim's fence: settling with an older one is refused.
    pub fence: u64,
    /// When the provider's delivery was enqueued.
    pub enqueued_at: SystemTime,
    /// This claim took the job over from an earlier one whose lease ended
    /// unsettled (its worker crashed, was killed or stalled).
    pub taken_over: bool,
}

/// A job that failed `Worker::with_max_attempts` times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The event's idempotency key (pass it to [`Queue::requeue`]).
    pub key: String,
    /// The encoded event ([`decode_event`]).
    pub payload: String,
    /// How many times a handler failed on it.
    pub attempts: u32,
    /// The last failure, as the handler's error displayed.
    pub error: String,
}

/// How many jobs a queue holds in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueCounts {
    /// Waiting to be claimed (including those waiting out a retry delay).
    pub ready: u64,
    /// Claimed by a worker (possibly one that crashed, until its lease ends).
    pub running: u64,
    /// Handled, remembered for the retention period.
    pub done: u64,
    /// In the dead-letter set.
    pub dead: u64,
    /// When the job that has waited longest among those ready and due
    /// became due (enqueued, or its retry delay ended); `None` when no job
    /// waits. Its age is how far the workers are behind.
    pub oldest_ready: Option<SystemTime>,
}

/// What one [`Pipeline::hand_off`](crate::pipeline::Pipeline::hand_off)
/// did with a delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Enqueued {
    /// New events, now durably queued.
    pub enqueued: usize,
    /// Events the queue already held (queued, running, done or dead): the
    /// provider's redelivery, acknowledged without queueing again.
    pub duplicates: usize,
    /// A control message the delivery carried instead of events.
    pub control: Option<crate::provider::Control>,
}

/// How a claimed job is settled: the one outcome its claim gives it
/// ([`Queue::settle`]).
///
/// Not `#[non_exhaustive]`: every engine matches on it, and a new way to
/// settle would be a breaking change for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement<'a> {
    /// Done. Idempotent for the same claim (a retry after a lost answer
    /// succeeds).
    Complete,
    /// Failed: back to ready, due after `delay`, with one more attempt
    /// counted and `error` remembered.
    Retry {
        /// How long until the job is due again.
        delay: Duration,
        /// The failure, as the handler's error displayed.
        error: &'a str,
    },
    /// Given back at once, with no attempt counted (a worker shutting
    /// down).
    Release,
    /// To the dead-letter set with its last error and one more attempt
    /// counted.
    Bury {
        /// The last failure.
        error: &'a str,
    },
}

/// A durable queue of events keyed by idempotency key. See the
/// [module docs](self) for the states and the fence.
///
/// Every engine passes the same contract suite (`tests/queue_contract.rs`).
pub trait Queue: Send + Sync {
    /// Adds the jobs whose key the queue does not hold, atomically (all or
    /// none) and in one round trip; answers, per job, whether it was new (a
    /// key repeated within `jobs` is new at most once, at its first place).
    /// Returns only once the new jobs are as durable as the engine is
    /// configured to make them.
    fn enqueue<'a>(
        &'a self,
        jobs: &'a [NewJob],
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send + 'a;

    /// Claims up to `max` (at most [`MAX_BATCH`]) jobs that are ready and
    /// due, or whose lease expired, under a new lease of `lease`. Taking
    /// over an expired lease counts one more attempt, so an event that
    /// crashes its worker every time still reaches the dead-letter set.
    fn claim(
        &self,
        max: usize,
        lease: Duration,
    ) -> impl Future<Output = Result<Vec<ClaimedJob>, StoreError>> + Send;

    /// Renews a claim's lease: the job stays this claim's for `lease` from
    /// now. A worker calls it while its handler runs (a heartbeat), so that
    /// a short lease bounds how long a crashed worker's job waits without
    /// cutting a slow handler short. [`StoreError::StaleToken`] if the job
    /// was claimed again or settled since.
    fn renew<'a>(
        &'a self,
        job: &'a ClaimedJob,
        lease: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;

    /// Resolves when a job may have become ready: an idle worker waits
    /// for it or for its poll interval, whichever comes first. The default
    /// never resolves (the worker polls); an engine that can be told of new
    /// jobs (PostgreSQL's `LISTEN`, an enqueue in the same process) wakes
    /// its workers within milliseconds. A spurious wake-up costs one claim.
    fn wait_for_jobs(&self) -> impl Future<Output = ()> + Send + '_ {
        std::future::pending()
    }

    /// Settles a claimed job as `settlement` says, only while `job`'s claim
    /// holds it (its fence): [`StoreError::StaleToken`] if the job was
    /// claimed again since, or already settled otherwise. An engine (or a
    /// wrapper around one) implements this one method;
    /// [`complete`](Self::complete), [`retry`](Self::retry),
    /// [`release`](Self::release) and [`bury`](Self::bury) are shorthands
    /// for it, and the worker calls `settle` itself: override `settle`,
    /// never the shorthands.
    fn settle<'a>(
        &'a self,
        job: &'a ClaimedJob,
        settlement: Settlement<'a>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a;

    /// Marks a claimed job done ([`Settlement::Complete`]).
    fn complete<'a>(
        &'a self,
        job: &'a ClaimedJob,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        self.settle(job, Settlement::Complete)
    }

    /// Puts a failed job back, due after `delay` ([`Settlement::Retry`]).
    fn retry<'a>(
        &'a self,
        job: &'a ClaimedJob,
        delay: Duration,
        error: &'a str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        self.settle(job, Settlement::Retry { delay, error })
    }

    /// Gives a claimed job back at once ([`Settlement::Release`]).
    fn release<'a>(
        &'a self,
        job: &'a ClaimedJob,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        self.settle(job, Settlement::Release)
    }

    /// Moves a claimed job to the dead-letter set ([`Settlement::Bury`]).
    fn bury<'a>(
        &'a self,
        job: &'a ClaimedJob,
        error: &'a str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        self.settle(job, Settlement::Bury { error })
    }

    /// Up to `limit` (at most [`MAX_BATCH`]) dead letters, oldest first.
    fn dead_letters(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Puts dead letters back to ready with their attempts reset: those of
    /// `keys`, or all of them for `None`. Returns how many moved.
    fn requeue<'a>(
        &'a self,
        keys: Option<&'a [String]>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send + 'a;

    /// How many jobs are in each state.
    fn counts(&self) -> impl Future<Output = Result<QueueCounts, StoreError>> + Send;
}

/// Forwards every method to the queue behind a pointer.
macro_rules! forward_queue {
    ($($pointer:ty),*) => {$(
        impl<Q: Queue + ?Sized> Queue for $pointer {
    fn enqueue<'a>(
        &'a self,
        jobs: &'a [NewJob],
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send + 'a {
        (**self).enqueue(jobs)
    }
    fn claim(
        &self,
        max: usize,
        lease: Duration,
    ) -> impl Future<Output = Result<Vec<ClaimedJob>, StoreError>> + Send {
        (**self).claim(max, lease)
    }
    fn renew<'a>(
        &'a self,
        job: &'a ClaimedJob,
        lease: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        (**self).renew(job, lease)
    }
    fn wait_for_jobs(&self) -> impl Future<Output = ()> + Send + '_ {
        (**self).wait_for_jobs()
    }
    fn settle<'a>(
        &'a self,
        job: &'a ClaimedJob,
        settlement: Settlement<'a>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        (**self).settle(job, settlement)
    }
    fn dead_letters(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send {
        (**self).dead_letters(limit)
    }
    fn requeue<'a>(
        &'a self,
        keys: Option<&'a [String]>,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send + 'a {
        (**self).requeue(keys)
    }
    fn counts(
        &self,
    ) -> impl Future<Output = Result<QueueCounts, StoreError>> + Send {
        (**self).counts()
    }
}
    )*};
}

// A shared queue is a queue: the receiver and the worker hold one each.
forward_queue!(Arc<Q>, &Q);

/// Bounds the jobs one call handles.
pub(crate) fn batch(max: usize) -> usize {
    max.clamp(1, MAX_BATCH)
}

/// Milliseconds since the Unix epoch (saturating), the time unit the
/// embedded engines store.
#[cfg(feature = "sqlite")]
pub(crate) fn millis(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The time `millis` stands for (negative, or past what the platform's
/// clock can hold, is the epoch).
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn from_millis(ms: i64) -> SystemTime {
    // Checked: a corrupt value past the platform's range (Windows') is the
    // epoch, never a panic.
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// A duration in milliseconds, capped like every stored duration.
#[cfg(feature = "sqlite")]
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(crate::idempotency::capped(d).as_millis()).unwrap_or(i64::MAX)
}

/// The stored form of an event, as read back. Versioned, so that an old
/// worker refuses what it cannot read instead of misreading it.
#[derive(Deserialize)]
struct Stored {
    v: u8,
    provider: String,
    kind: String,
    timestamp: Option<i128>,
    event_id: Option<String>,
    message_id: Option<String>,
    recipient: Option<String>,
    reject_reason: Option<RejectReason>,
    /// Absent in payloads written before it existed: a hard bounce.
    #[serde(default)]
    soft_bounce: bool,
    description: Option<String>,
    mta_response: Option<String>,
    click_url: Option<String>,
    user_agent: Option<String>,
    tags: Vec<String>,
    metadata: serde_json::Map<String, serde_json::Value>,
    raw: Box<serde_json::value::RawValue>,
    fingerprint: Option<String>,
}

/// Encodes an event for a queue (JSON, versioned; keeps what
/// [`EmailEvent::idempotency_key`] needs, so the key survives the trip).
///
/// # Errors
///
/// [`StoreError::Backend`] if the event cannot be serialized.
pub fn encode_event(event: &EmailEvent) -> Result<String, StoreError> {
    // The same fields as `Stored`, borrowed: nothing is copied or
    // re-validated on the way to the queue.
    #[derive(Serialize)]
    struct StoredRef<'a> {
        v: u8,
        provider: &'a str,
        kind: &'a str,
        timestamp: Option<i128>,
        event_id: Option<&'a str>,
        message_id: Option<&'a str>,
        recipient: Option<&'a str>,
        reject_reason: Option<RejectReason>,
        #[serde(skip_serializing_if = "crate::event::is_false")]
        soft_bounce: bool,
        description: Option<&'a str>,
        mta_response: Option<&'a str>,
        click_url: Option<&'a str>,
        user_agent: Option<&'a str>,
        tags: &'a [String],
        metadata: &'a serde_json::Map<String, serde_json::Value>,
        raw: &'a serde_json::value::RawValue,
        fingerprint: Option<&'a str>,
    }
    let stored = StoredRef {
        v: 1,
        provider: event.provider.as_str(),
        kind: event.kind.as_str(),
        timestamp: event
            .timestamp
            .map(time::OffsetDateTime::unix_timestamp_nanos),
        event_id: event.event_id.as_deref(),
        message_id: event.message_id.as_deref(),
        recipient: event.recipient.as_deref(),
        reject_reason: event.reject_reason,
        soft_bounce: event.soft_bounce,
        description: event.description.as_deref(),
        mta_response: event.mta_response.as_deref(),
        click_url: event.click_url.as_deref(),
        user_agent: event.user_agent.as_deref(),
        tags: &event.tags,
        metadata: &event.metadata,
        raw: &event.raw,
        fingerprint: event.fingerprint(),
    };
    serde_json::to_string(&stored).map_err(|e| StoreError::Backend(Box::new(e)))
}

/// Why a stored payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the queued payload cannot be decoded: {0}")]
pub struct UndecodablePayload(String);

impl UndecodablePayload {
    pub(crate) fn new(why: String) -> Self {
        Self(why)
    }
}

/// Decodes what [`encode_event`] wrote. A custom provider's name comes back
/// as one of `custom` (the names of your own providers; a stored name that
/// is neither registered nor listed is refused).
///
/// # Errors
///
/// [`UndecodablePayload`] for anything else (a corrupted row, a newer
/// version, an unknown provider).
pub fn decode_event(
    payload: &str,
    custom: &[&'static str],
) -> Result<EmailEvent, UndecodablePayload> {
    let stored: Stored =
        serde_json::from_str(payload).map_err(|e| UndecodablePayload(e.to_string()))?;
    if stored.v != 1 {
        return Err(UndecodablePayload(format!("version {}", stored.v)));
    }
    let provider = match stored.provider.parse::<Provider>() {
        Ok(provider) => provider,
        Err(_) => custom
            .iter()
            .find(|name| **name == stored.provider)
            .map(|name| Provider::Custom(name))
            .ok_or_else(|| UndecodablePayload(format!("unknown provider {:?}", stored.provider)))?,
    };
    let kind: EventKind = stored
        .kind
        .parse()
        .map_err(|_| UndecodablePayload(format!("unknown kind {:?}", stored.kind)))?;
    let mut event = EmailEvent::new(provider, kind, stored.raw);
    event.timestamp = match stored.timestamp {
        Some(nanos) => Some(
            time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
                .map_err(|e| UndecodablePayload(e.to_string()))?,
        ),
        None => None,
    };
    event.event_id = stored.event_id;
    event.message_id = stored.message_id;
    event.recipient = stored.recipient;
    event.reject_reason = stored.reject_reason;
    event.soft_bounce = stored.soft_bounce;
    event.description = stored.description;
    event.mta_response = stored.mta_response;
    event.click_url = stored.click_url;
    event.user_agent = stored.user_agent;
    event.tags = stored.tags;
    event.metadata = stored.metadata;
    if let Some(fingerprint) = stored.fingerprint {
        event.restore_fingerprint(fingerprint);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_the_codec_with_their_keys() {
        let raw = serde_json::value::RawValue::from_string(r#"{"a":[1,2]}"#.to_owned())
            .unwrap_or_else(|_| unreachable!());
        let mut event = EmailEvent::new(Provider::Sendgrid, EventKind::Bounced, raw);
        event.set_fingerprint(&[7; 32]);
        event.recipient = Some("a@example.com".into());
        event.timestamp =
            time::OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).ok();
        event.reject_reason = Some(RejectReason::Bounced);
        event.soft_bounce = true;
        event.tags = vec!["t".into()];
        event
            .metadata
            .insert("m".into(), serde_json::json!({"x": 1}));
        let payload = encode_event(&event).unwrap_or_else(|e| panic!("{e}"));
        let back = decode_event(&payload, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.idempotency_key(), event.idempotency_key());
        assert_eq!(
            serde_json::to_value(&back).ok(),
            serde_json::to_value(&event).ok()
        );
        let custom = EmailEvent::new(
            Provider::Custom("acme"),
            EventKind::Opened,
            back.raw.clone(),
        );
        let payload = encode_event(&custom).unwrap_or_else(|e| panic!("{e}"));
        assert!(decode_event(&payload, &[]).is_err());
        let back = decode_event(&payload, &["acme"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.provider, Provider::Custom("acme"));
        for bad in ["", "{}", "[]", &payload.replace("\"v\":1", "\"v\":2")] {
            assert!(decode_event(bad, &["acme"]).is_err(), "{bad}");
        }
    }
}
