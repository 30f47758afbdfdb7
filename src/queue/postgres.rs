//! The outbox queue on PostgreSQL (feature `postgres`).

use std::time::Duration;

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::Notify;

use super::{ClaimedJob, DeadLetter, NewJob, Queue, QueueCounts, Settlement, StoreError, batch};
use crate::idempotency::postgres::{backend, pool_error, seconds};

// States: 0 ready, 1 running, 2 done, 3 dead. `at` is when a ready job is
// due, when a running job's lease ends, when a job was done or buried.
// Times are the server's (`now()`), so replicas' clocks do not matter.
const CREATE_TABLE: &str = "
CREATE TABLE IF NOT EXISTS email_webhooks_jobs (
    key         TEXT PRIMARY KEY,
    payload     TEXT NOT NULL,
    state       SMALLINT NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    fence       BIGINT NOT NULL DEFAULT 0,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    seq         BIGSERIAL,
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS email_webhooks_jobs_claimable ON email_webhooks_jobs (at, seq) WHERE state IN (0, 1);
CREATE INDEX IF NOT EXISTS email_webhooks_jobs_state ON email_webhooks_jobs (state, at)";

// One statement: atomic, one round trip, whatever the batch size.
// A key repeated within the batch is new at most once (its first place);
// rows are inserted in key order, so overlapping batches cannot deadlock.
const ENQUEUE: &str = "
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS i(key, payload, ord)
), firsts AS (
    SELECT DISTINCT ON (key) key, payload, ord FROM input ORDER BY key, ord
), added AS (
    INSERT INTO email_webhooks_jobs (key, payload)
    SELECT key, payload FROM firsts ORDER BY key
    ON CONFLICT (key) DO NOTHING
    RETURNING key
), notified AS (
    -- Wakes the workers listening (sent when the statement commits).
    SELECT pg_notify('email_webhooks_jobs', '') WHERE EXISTS (SELECT 1 FROM added)
)
SELECT added.key IS NOT NULL AND firsts.ord = input.ord
  FROM input
  JOIN firsts USING (key)
  LEFT JOIN added USING (key)
  LEFT JOIN notified ON TRUE
 ORDER BY input.ord";

const CLAIM: &str = "
WITH due AS (
    SELECT key, attempts FROM email_webhooks_jobs
     WHERE state IN (0, 1) AND at <= now()
     ORDER BY at, seq LIMIT $1
     FOR UPDATE SKIP LOCKED
)
UPDATE email_webhooks_jobs j
   SET state = 1, fence = j.fence + 1, attempts = j.attempts + (j.state = 1)::int,
       at = now() + make_interval(secs => $2)
  FROM due WHERE j.key = due.key
RETURNING j.key, j.payload, j.attempts, j.fence,
          (extract(epoch FROM j.enqueued_at) * 1000)::bigint,
          j.attempts > due.attempts";

const PURGE: &str = "
DELETE FROM email_webhooks_jobs WHERE key IN (
    SELECT key FROM email_webhooks_jobs
     WHERE state = 2 AND at < now() - make_interval(secs => $1)
     ORDER BY at LIMIT 1000 FOR UPDATE SKIP LOCKED)";

/// A durable queue in a PostgreSQL outbox table (feature `postgres`),
/// shared by every replica: claims take rows with `FOR UPDATE SKIP
/// LOCKED`, so workers never wait for each other; an enqueue is one
/// statement (atomic, one round trip per delivery). An enqueue that adds
/// jobs sends `NOTIFY email_webhooks_jobs`; a queue made with
/// [`connect`](Self::connect) (or given [`with_listener`](Self::with_listener))
/// keeps one connection that `LISTEN`s and wakes its idle workers within
/// milliseconds. Polling ([`Worker::with_poll_interval`](crate::worker::Worker::with_poll_interval))
/// stays the fallback: for jobs whose retry delay ends, for a listener
/// reconnecting, and for queues without one.
///
/// With [`connect`](Self::connect), every statement gives up after 5
/// seconds, like [`PostgresStore`](crate::idempotency::PostgresStore)'s;
/// with [`from_pool`](Self::from_pool), set `statement_timeout` yourself.
#[derive(Clone)]
pub struct PostgresQueue {
    pool: Pool,
    retention: Duration,
    listener: Option<Arc<Listener>>,
}

/// The `LISTEN` connection shared by a queue's clones, started by the
/// first worker that waits, stopped with the last clone.
struct Listener {
    config: tokio_postgres::Config,
    wake: Arc<Notify>,
    /// The listening task, started by the first worker that waits, and
    /// started again by the next if it ended (the runtime it ran on was
    /// shut down while the queue lives on).
    task: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let task = match self.task.get_mut() {
            Ok(task) => task,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}

/// The channel an enqueue notifies.
const CHANNEL: &str = "LISTEN email_webhooks_jobs";

/// Keeps a connection listening, reconnecting after a second when it
/// fails; wakes every waiting worker on each notification, and once each
/// time it starts listening (jobs may have come while it was not).
async fn listen(config: tokio_postgres::Config, wake: Arc<Notify>) {
    use futures_util::StreamExt as _;
    use tokio_postgres::AsyncMessage;
    loop {
        let connected = config.connect(tokio_postgres::NoTls).await;
        if let Err(error) = &connected {
            // Polling covers the gap; the cause is logged (rate-limited).
            crate::telemetry::queue_error("listen", &StoreError::Backend(error.to_string().into()));
        }
        if let Ok((client, mut connection)) = connected {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            let listening = {
                let subscribe = client.batch_execute(CHANNEL);
                let mut subscribe = std::pin::pin!(subscribe);
                loop {
                    tokio::select! {
                        done = &mut subscribe => break done.is_ok(),
                        message = messages.next() => match message {
                            Some(Ok(_)) => {}
                            _ => break false,
                        },
                    }
                }
            };
            if listening {
                wake.notify_waiters();
                while let Some(Ok(message)) = messages.next().await {
                    if matches!(message, AsyncMessage::Notification(_)) {
                        wake.notify_waiters();
                    }
                }
            }
            drop(client);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

impl std::fmt::Debug for PostgresQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresQueue")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// `error` as PostgreSQL text, which cannot hold NUL: each becomes U+FFFD
/// (or the settlement would fail every time).
fn text(error: &str) -> std::borrow::Cow<'_, str> {
    if error.contains('\0') {
        error.replace('\0', "\u{FFFD}").into()
    } else {
        error.into()
    }
}

fn fence(job: &ClaimedJob) -> i64 {
    i64::try_from(job.fence).unwrap_or(i64::MAX)
}

impl PostgresQueue {
    /// The table the queue uses, for migrations you run yourself.
    pub const CREATE_TABLE: &'static str = CREATE_TABLE;

    /// Connects with a libpq-style configuration (`host=… user=…` or a
    /// `postgresql://` URL) and a pool of up to 16 connections.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for a malformed configuration.
    pub fn connect(config: &str) -> Result<Self, StoreError> {
        let store = crate::idempotency::PostgresStore::connect(config)?;
        Self::from_pool(store.pool().clone()).with_listener(config)
    }

    /// Uses your pool. Its workers poll, unless you add a listener
    /// ([`with_listener`](Self::with_listener)).
    #[must_use]
    pub fn from_pool(pool: Pool) -> Self {
        Self {
            pool,
            retention: super::DEFAULT_RETENTION,
            listener: None,
        }
    }

    /// Wakes idle workers when jobs are enqueued, through one more
    /// connection (made from `config`, libpq-style, without TLS) that
    /// `LISTEN`s for the enqueues' `NOTIFY`. Made when a worker first
    /// waits; remade a second after it fails (polling covers the gap).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if `config` does not parse.
    pub fn with_listener(mut self, config: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = config.parse().map_err(backend)?;
        config.keepalives(true);
        // The connection only ever reads: one that died silently (a NAT or
        // load balancer dropping idle flows, a failover without a reset)
        // would go unnoticed for the system's default two hours of idle
        // before the first probe. Unless the configuration says otherwise,
        // probe after 30 s idle, then every 10 s, 3 times.
        if config.get_keepalives_idle() >= Duration::from_secs(2 * 3600) {
            config.keepalives_idle(Duration::from_secs(30));
            config.keepalives_interval(Duration::from_secs(10));
            config.keepalives_retries(3);
        }
        self.listener = Some(Arc::new(Listener {
            config,
            wake: Arc::new(Notify::new()),
            task: std::sync::Mutex::new(None),
        }));
        Ok(self)
    }

    /// Handled keys are remembered (redeliveries are duplicates) for
    /// `retention` ([`DEFAULT_RETENTION`](super::DEFAULT_RETENTION) by
    /// default), then deleted.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Creates the table if it does not exist.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the server refuses.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        crate::idempotency::postgres::create_locked(&self.pool, CREATE_TABLE).await
    }

    /// Runs `sql` over (key, fence, `extra`…): one row changed, or the
    /// claim no longer holds the job.
    async fn update(
        &self,
        sql: &str,
        job: &ClaimedJob,
        extra: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let fence = fence(job);
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&job.key, &fence];
        params.extend_from_slice(extra);
        let statement = client.prepare_cached(sql).await.map_err(backend)?;
        match client.execute(&statement, &params).await.map_err(backend)? {
            1 => Ok(()),
            _ => Err(StoreError::StaleToken),
        }
    }
}

impl Queue for PostgresQueue {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<bool>, StoreError> {
        let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
        let payloads: Vec<&str> = jobs.iter().map(|j| j.payload.as_str()).collect();
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query(
                &client.prepare_cached(ENQUEUE).await.map_err(backend)?,
                &[&keys, &payloads],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| row.try_get::<_, bool>(0).map_err(backend))
            .collect()
    }

    async fn claim(&self, max: usize, lease: Duration) -> Result<Vec<ClaimedJob>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        client
            .execute(
                &client.prepare_cached(PURGE).await.map_err(backend)?,
                &[&seconds(self.retention)],
            )
            .await
            .map_err(backend)?;
        let limit = i64::try_from(batch(max)).unwrap_or(1);
        let rows = client
            .query(
                &client.prepare_cached(CLAIM).await.map_err(backend)?,
                &[&limit, &seconds(lease)],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get(0).map_err(backend)?;
                Ok(ClaimedJob {
                    id: key.clone(),
                    key,
                    payload: row.try_get(1).map_err(backend)?,
                    attempts: u32::try_from(row.try_get::<_, i32>(2).map_err(backend)?)
                        .unwrap_or(0),
                    fence: u64::try_from(row.try_get::<_, i64>(3).map_err(backend)?).unwrap_or(0),
                    enqueued_at: super::from_millis(row.try_get(4).map_err(backend)?),
                    taken_over: row.try_get(5).map_err(backend)?,
                })
            })
            .collect()
    }

    async fn renew(&self, job: &ClaimedJob, lease: Duration) -> Result<(), StoreError> {
        self.update(
            "UPDATE email_webhooks_jobs SET at = now() + make_interval(secs => $3)
              WHERE key = $1 AND fence = $2 AND state = 1",
            job,
            &[&seconds(lease)],
        )
        .await
    }

    async fn wait_for_jobs(&self) {
        let Some(listener) = &self.listener else {
            return std::future::pending().await;
        };
        let wake = listener.wake.notified();
        {
            let mut task = match listener.task.lock() {
                Ok(task) => task,
                Err(poisoned) => poisoned.into_inner(),
            };
            if task
                .as_ref()
                .is_none_or(tokio::task::AbortHandle::is_finished)
            {
                let listening = listen(listener.config.clone(), Arc::clone(&listener.wake));
                *task = Some(tokio::spawn(listening).abort_handle());
            }
        }
        wake.await;
    }

    async fn settle(&self, job: &ClaimedJob, settlement: Settlement<'_>) -> Result<(), StoreError> {
        match settlement {
            // Done again by the same claim is success (a retried
            // completion).
            Settlement::Complete => {
                self.update(
                    "UPDATE email_webhooks_jobs
                        SET payload = '', error = '',
                            at = CASE state WHEN 2 THEN at ELSE now() END, state = 2
                      WHERE key = $1 AND fence = $2 AND state IN (1, 2)",
                    job,
                    &[],
                )
                .await
            }
            Settlement::Retry { delay, error } => {
                self.update(
                    "UPDATE email_webhooks_jobs
                        SET state = 0, attempts = attempts + 1,
                            at = now() + make_interval(secs => $3), error = $4
                      WHERE key = $1 AND fence = $2 AND state = 1",
                    job,
                    &[&seconds(delay), &text(error).as_ref()],
                )
                .await
            }
            Settlement::Release => {
                self.update(
                    "UPDATE email_webhooks_jobs SET state = 0, at = now()
                      WHERE key = $1 AND fence = $2 AND state = 1",
                    job,
                    &[],
                )
                .await
            }
            Settlement::Bury { error } => {
                self.update(
                    "UPDATE email_webhooks_jobs
                        SET state = 3, attempts = attempts + 1, at = now(), error = $3
                      WHERE key = $1 AND fence = $2 AND state = 1",
                    job,
                    &[&text(error).as_ref()],
                )
                .await
            }
        }
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let limit = i64::try_from(batch(limit)).unwrap_or(1);
        let rows = client
            .query(
                "SELECT key, payload, attempts, error FROM email_webhooks_jobs
                      WHERE state = 3 ORDER BY at, seq LIMIT $1",
                &[&limit],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    key: row.try_get(0).map_err(backend)?,
                    payload: row.try_get(1).map_err(backend)?,
                    attempts: u32::try_from(row.try_get::<_, i32>(2).map_err(backend)?)
                        .unwrap_or(0),
                    error: row.try_get(3).map_err(backend)?,
                })
            })
            .collect()
    }

    async fn requeue(&self, keys: Option<&[String]>) -> Result<usize, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let sql = "UPDATE email_webhooks_jobs SET state = 0, attempts = 0, at = now()
                        WHERE state = 3";
        let moved = match keys {
            None => client.execute(sql, &[]).await,
            Some(keys) => {
                client
                    .execute(&format!("{sql} AND key = ANY($1)"), &[&keys])
                    .await
            }
        }
        .map_err(backend)?;
        Ok(usize::try_from(moved).unwrap_or(usize::MAX))
    }

    async fn counts(&self) -> Result<QueueCounts, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let rows = client
            .query(
                "SELECT state, count(*) FROM email_webhooks_jobs GROUP BY state",
                &[],
            )
            .await
            .map_err(backend)?;
        let mut counts = QueueCounts::default();
        for row in rows {
            let state: i16 = row.try_get(0).map_err(backend)?;
            let n = u64::try_from(row.try_get::<_, i64>(1).map_err(backend)?).unwrap_or(0);
            match state {
                0 => counts.ready = n,
                1 => counts.running = n,
                2 => counts.done = n,
                _ => counts.dead = n,
            }
        }
        let oldest: Option<i64> = client
            .query_one(
                "SELECT (extract(epoch FROM min(at)) * 1000)::bigint
                   FROM email_webhooks_jobs WHERE state = 0 AND at <= now()",
                &[],
            )
            .await
            .and_then(|row| row.try_get(0))
            .map_err(backend)?;
        counts.oldest_ready = oldest.map(super::from_millis);
        Ok(counts)
    }
}
