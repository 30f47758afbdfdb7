//! The embedded queue on SQLite (feature `sqlite`).

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, TransactionBehavior, params};

use super::{
    ClaimedJob, DeadLetter, NewJob, Queue, QueueCounts, Settlement, StoreError, batch, duration_ms,
    from_millis, millis,
};

// States: 0 ready, 1 running, 2 done, 3 dead. `at` is when a ready job is
// due, when a running job's lease ends, when a job was done or buried.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS email_webhooks_jobs (
    key         TEXT PRIMARY KEY,
    payload     TEXT NOT NULL,
    state       INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    fence       INTEGER NOT NULL DEFAULT 0,
    at          INTEGER NOT NULL,
    enqueued_at INTEGER NOT NULL,
    error       TEXT NOT NULL DEFAULT ''
);
-- What a claim walks, in order: only ready and running rows.
CREATE INDEX IF NOT EXISTS email_webhooks_jobs_claimable ON email_webhooks_jobs (at) WHERE state IN (0, 1);
-- What the retention purge and the dead-letter listing walk.
CREATE INDEX IF NOT EXISTS email_webhooks_jobs_state ON email_webhooks_jobs (state, at);
";

const CLAIM: &str = "
UPDATE email_webhooks_jobs
   SET state = 1, fence = fence + 1, attempts = attempts + (state = 1), at = ?1 + ?2
 WHERE key IN (SELECT key FROM email_webhooks_jobs
                WHERE state IN (0, 1) AND at <= ?1
                ORDER BY at, rowid LIMIT ?3)
RETURNING key, payload, attempts, fence, enqueued_at";

// The running jobs whose lease ended that CLAIM (same parameters, in the
// same transaction) takes over: a running job among CLAIM's first rows is
// among these.
const LAPSED: &str = "
SELECT key FROM email_webhooks_jobs
 WHERE state = 1 AND at <= ?1
 ORDER BY at, rowid LIMIT ?2";

/// A durable queue in a SQLite file (feature `sqlite`): WAL mode with
/// `synchronous=FULL`, so an enqueue that returned survives a process
/// crash and a power loss, and several processes on one machine (a
/// receiver and its workers) can share the file. No server to run.
///
/// Enqueues and settlements are written by one writer thread that commits
/// every write waiting at once (group commit: one fsync for many deliveries under load,
/// each answered only after its commit). Other calls run on Tokio's
/// blocking pool, one at a time per `SqliteQueue` (clones share the
/// connections); open one per process.
#[derive(Clone)]
pub struct SqliteQueue {
    connection: Arc<Mutex<Connection>>,
    /// The group-commit writer's inbox (a file queue; `None` in memory).
    writer: Option<std::sync::mpsc::SyncSender<Pending>>,
    retention: Duration,
    /// Wakes this process's idle workers when an enqueue adds jobs.
    wake: Arc<tokio::sync::Notify>,
}

/// A write waiting for the writer's next group commit.
enum Pending {
    /// One delivery's jobs.
    Enqueue {
        jobs: Vec<NewJob>,
        answer: tokio::sync::oneshot::Sender<Result<Vec<bool>, StoreError>>,
    },
    /// A fenced settlement: `sql` over (key, fence, at, error); one row
    /// changed, or the claim was stale.
    Settle {
        sql: &'static str,
        key: String,
        fence: i64,
        at: i64,
        error: String,
        answer: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
    },
}

impl Pending {
    fn weight(&self) -> usize {
        match self {
            Self::Enqueue { jobs, .. } => jobs.len(),
            Self::Settle { .. } => 1,
        }
    }
}

/// What a write did, before its commit.
enum Done {
    Enqueued(Vec<bool>),
    Settled,
}

fn settle_row(
    c: &Connection,
    sql: &str,
    key: &str,
    fence: i64,
    at: i64,
    error: &str,
) -> Result<(), StoreError> {
    let changed = c
        .prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params![key, fence, at, error]))
        .map_err(backend)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::StaleToken)
    }
}

/// The most writes waiting for the writer: past it (the disk or another
/// process's lock stalls the writer), an enqueue fails at once (answered
/// 503, retried by the provider) instead of piling up in memory.
const WRITES_WAITING: usize = 4096;

/// Hands a write to the writer, never blocking the async caller.
fn submit(writer: &std::sync::mpsc::SyncSender<Pending>, write: Pending) -> Result<(), StoreError> {
    writer.try_send(write).map_err(|e| match e {
        std::sync::mpsc::TrySendError::Full(_) => StoreError::Full {
            capacity: WRITES_WAITING,
        },
        std::sync::mpsc::TrySendError::Disconnected(_) => {
            StoreError::Backend("the SQLite writer has stopped".into())
        }
    })
}

/// Hands a write to the writer and waits for its commit. Never a blocking
/// send: a full inbox (the writer stalled on the disk or on another
/// process's lock) would block the runtime's thread; it answers
/// [`StoreError::Full`] instead, which callers retry.
async fn through<T>(
    writer: &std::sync::mpsc::SyncSender<Pending>,
    write: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, StoreError>>) -> Pending,
) -> Result<T, StoreError> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    submit(writer, write(answer))?;
    answered
        .await
        .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))?
}

/// The most deliveries (and jobs) one group commit takes.
const GROUP_DELIVERIES: usize = 512;
const GROUP_JOBS: usize = 20_000;

const INSERT: &str =
    "INSERT OR IGNORE INTO email_webhooks_jobs (key, payload, state, at, enqueued_at)
                      VALUES (?1, ?2, 0, ?3, ?3)";

/// Inserts one delivery's jobs; answers which were new.
fn insert(c: &Connection, jobs: &[NewJob], now: i64) -> Result<Vec<bool>, StoreError> {
    let mut insert = c.prepare_cached(INSERT).map_err(backend)?;
    jobs.iter()
        .map(|job| {
            insert
                .execute(params![job.key, job.payload, now])
                .map(|changed| changed == 1)
                .map_err(backend)
        })
        .collect()
}

/// The group-commit writer: takes every enqueue waiting, writes them in one
/// transaction (each delivery in its own savepoint, so one failing does not
/// fail the others), commits once (one fsync for all), then answers each.
/// Ends when every `SqliteQueue` clone is dropped.
fn write_groups(mut connection: Connection, inbox: &std::sync::mpsc::Receiver<Pending>) {
    while let Ok(first) = inbox.recv() {
        let mut weight = first.weight();
        let mut group = vec![first];
        while group.len() < GROUP_DELIVERIES && weight < GROUP_JOBS {
            match inbox.try_recv() {
                Ok(next) => {
                    weight += next.weight();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let results = commit_group(&mut connection, &group);
        for (pending, result) in group.into_iter().zip(results) {
            // A receiver may have gone (its request was cancelled).
            match (pending, result) {
                (Pending::Enqueue { answer, .. }, Ok(Done::Enqueued(new))) => {
                    let _ = answer.send(Ok(new));
                }
                (Pending::Settle { answer, .. }, Ok(_)) => {
                    let _ = answer.send(Ok(()));
                }
                (Pending::Enqueue { answer, .. }, Err(e)) => {
                    let _ = answer.send(Err(e));
                }
                (Pending::Settle { answer, .. }, Err(e)) => {
                    let _ = answer.send(Err(e));
                }
                (Pending::Enqueue { answer, .. }, Ok(Done::Settled)) => {
                    let _ = answer.send(Err(StoreError::Backend("mismatched write".into())));
                }
            }
        }
    }
}

fn commit_group(connection: &mut Connection, group: &[Pending]) -> Vec<Result<Done, StoreError>> {
    let failed = |e: &rusqlite::Error| {
        group
            .iter()
            .map(|_| Err(StoreError::Backend(e.to_string().into())))
            .collect()
    };
    let now = millis(SystemTime::now());
    let mut tx = match connection.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return failed(&e),
    };
    let mut results = Vec::with_capacity(group.len());
    for pending in group {
        // Each write in its own savepoint: one failing leaves the others.
        let result = match tx.savepoint() {
            Ok(mut savepoint) => {
                let done = match pending {
                    Pending::Enqueue { jobs, .. } => {
                        insert(&savepoint, jobs, now).map(Done::Enqueued)
                    }
                    Pending::Settle {
                        sql,
                        key,
                        fence,
                        at,
                        error,
                        ..
                    } => {
                        settle_row(&savepoint, sql, key, *fence, *at, error).map(|()| Done::Settled)
                    }
                };
                match done {
                    Ok(done) => savepoint.commit().map(|()| done).map_err(backend),
                    Err(e) => {
                        let _ = savepoint.rollback();
                        Err(e)
                    }
                }
            }
            Err(e) => Err(backend(e)),
        };
        results.push(result);
    }
    match tx.commit() {
        Ok(()) => results,
        Err(e) => failed(&e),
    }
}

impl std::fmt::Debug for SqliteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteQueue")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn as_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn as_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn fence(job: &ClaimedJob) -> i64 {
    i64::try_from(job.fence).unwrap_or(i64::MAX)
}

impl SqliteQueue {
    /// Opens (creating if needed) the queue in the SQLite file at `path`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the file cannot be opened or set up.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let mut queue = Self::setup(Connection::open(path).map_err(backend)?)?;
        // Enqueues go through one writer thread with its own connection,
        // which commits every enqueue waiting at once: one fsync for many
        // deliveries under load, each answered only once committed.
        let writer = Connection::open(path).map_err(backend)?;
        Self::configure(&writer)?;
        let (inbox, receive) = std::sync::mpsc::sync_channel(WRITES_WAITING);
        std::thread::Builder::new()
            .name("email-webhooks-sqlite-writer".into())
            .spawn(move || write_groups(writer, &receive))
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        queue.writer = Some(inbox);
        Ok(queue)
    }

    /// A queue in a private in-memory database (tests): not durable.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if SQLite cannot be set up.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::setup(Connection::open_in_memory().map_err(backend)?)
    }

    fn configure(connection: &Connection) -> Result<(), StoreError> {
        // Another process (or the other connection) holding the write lock
        // is waited for, not failed.
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(backend)?;
        let _mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(backend)?;
        connection
            .execute_batch("PRAGMA synchronous = FULL;")
            .map_err(backend)
    }

    fn setup(connection: Connection) -> Result<Self, StoreError> {
        Self::configure(&connection)?;
        connection.execute_batch(SCHEMA).map_err(backend)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            writer: None,
            retention: super::DEFAULT_RETENTION,
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Handled keys are remembered (redeliveries are duplicates) for
    /// `retention` ([`DEFAULT_RETENTION`](super::DEFAULT_RETENTION) by
    /// default), then deleted.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = self.connection.clone();
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut connection)
        })
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
    }

    /// Runs `sql` over (key, fence, now + `value` ms, `error`): one row
    /// changed, or the claim no longer holds the job.
    async fn update(
        &self,
        job: &ClaimedJob,
        sql: &'static str,
        value: i64,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let (key, fence) = (job.key.clone(), fence(job));
        let error = error.unwrap_or_default().to_owned();
        let at = millis(SystemTime::now()).saturating_add(value);
        if let Some(writer) = &self.writer {
            return through(writer, |answer| Pending::Settle {
                sql,
                key,
                fence,
                at,
                error,
                answer,
            })
            .await;
        }
        self.call(move |c| settle_row(c, sql, &key, fence, at, &error))
            .await
    }
}

impl Queue for SqliteQueue {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<bool>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let jobs = jobs.to_vec();
        let answers = if let Some(writer) = &self.writer {
            through(writer, |answer| Pending::Enqueue { jobs, answer }).await
        } else {
            self.call(move |c| {
                let now = millis(SystemTime::now());
                let tx = c
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(backend)?;
                let answers = insert(&tx, &jobs, now)?;
                tx.commit().map_err(backend)?;
                Ok(answers)
            })
            .await
        }?;
        if answers.contains(&true) {
            self.wake.notify_waiters();
        }
        Ok(answers)
    }

    /// Wakes when an enqueue through this queue (or a clone) adds jobs;
    /// another process's enqueues are found by polling.
    async fn wait_for_jobs(&self) {
        self.wake.notified().await;
    }

    async fn claim(&self, max: usize, lease: Duration) -> Result<Vec<ClaimedJob>, StoreError> {
        let retention = duration_ms(self.retention);

        self.call(move |c| {
            let now = millis(SystemTime::now());
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            // Forget handled keys past their retention, a bounded number
            // per claim so a claim stays short.
            tx.execute(
                "DELETE FROM email_webhooks_jobs WHERE key IN (
                         SELECT key FROM email_webhooks_jobs
                          WHERE state = 2 AND at < ?1 ORDER BY at LIMIT 1000)",
                params![now.saturating_sub(retention)],
            )
            .map_err(backend)?;
            let limit = i64::try_from(batch(max)).unwrap_or(1);
            let lapsed = tx
                .prepare_cached(LAPSED)
                .and_then(|mut statement| {
                    statement
                        .query_map(params![now, limit], |row| row.get::<_, String>(0))?
                        .collect::<Result<std::collections::HashSet<_>, _>>()
                })
                .map_err(backend)?;
            let claimed = {
                let mut claim = tx.prepare_cached(CLAIM).map_err(backend)?;
                let rows = claim
                    .query_map(params![now, duration_ms(lease), limit], |row| {
                        Ok(ClaimedJob {
                            id: row.get::<_, String>(0)?,
                            key: row.get(0)?,
                            payload: row.get(1)?,
                            attempts: as_u32(row.get(2)?),
                            fence: as_u64(row.get(3)?),
                            enqueued_at: from_millis(row.get(4)?),
                            taken_over: false,
                        })
                    })
                    .map_err(backend)?;
                let mut claimed = rows.collect::<Result<Vec<_>, _>>().map_err(backend)?;
                for job in &mut claimed {
                    job.taken_over = lapsed.contains(&job.key);
                }
                claimed
            };
            tx.commit().map_err(backend)?;
            Ok(claimed)
        })
        .await
    }

    async fn renew(&self, job: &ClaimedJob, lease: Duration) -> Result<(), StoreError> {
        self.update(
            job,
            "UPDATE email_webhooks_jobs SET at = ?3, error = error || ?4
              WHERE key = ?1 AND fence = ?2 AND state = 1",
            duration_ms(lease),
            None,
        )
        .await
    }

    async fn settle(&self, job: &ClaimedJob, settlement: Settlement<'_>) -> Result<(), StoreError> {
        let (sql, value, error) = match settlement {
            // Done again by the same claim is success (a retried
            // completion).
            Settlement::Complete => (
                "UPDATE email_webhooks_jobs
                    SET state = 2, payload = '', error = ?4,
                        at = CASE state WHEN 2 THEN at ELSE ?3 END
                  WHERE key = ?1 AND fence = ?2 AND state IN (1, 2)",
                0,
                None,
            ),
            Settlement::Retry { delay, error } => (
                "UPDATE email_webhooks_jobs
                    SET state = 0, attempts = attempts + 1, at = ?3, error = ?4
                  WHERE key = ?1 AND fence = ?2 AND state = 1",
                duration_ms(delay),
                Some(error),
            ),
            Settlement::Release => (
                "UPDATE email_webhooks_jobs SET state = 0, at = ?3, error = error || ?4
                  WHERE key = ?1 AND fence = ?2 AND state = 1",
                0,
                None,
            ),
            Settlement::Bury { error } => (
                "UPDATE email_webhooks_jobs
                    SET state = 3, attempts = attempts + 1, at = ?3, error = ?4
                  WHERE key = ?1 AND fence = ?2 AND state = 1",
                0,
                Some(error),
            ),
        };
        self.update(job, sql, value, error).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let limit = i64::try_from(batch(limit)).unwrap_or(1);

        self.call(move |c| {
            let mut select = c
                .prepare_cached(
                    "SELECT key, payload, attempts, error FROM email_webhooks_jobs
                          WHERE state = 3 ORDER BY at, rowid LIMIT ?1",
                )
                .map_err(backend)?;
            let rows = select
                .query_map(params![limit], |row| {
                    Ok(DeadLetter {
                        key: row.get(0)?,
                        payload: row.get(1)?,
                        attempts: as_u32(row.get(2)?),
                        error: row.get(3)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(backend)
        })
        .await
    }

    async fn requeue(&self, keys: Option<&[String]>) -> Result<usize, StoreError> {
        let keys = keys.map(<[String]>::to_vec);

        self.call(move |c| {
            let now = millis(SystemTime::now());
            let sql = "UPDATE email_webhooks_jobs SET state = 0, attempts = 0, at = ?1
                            WHERE state = 3";
            match keys {
                None => c.execute(sql, params![now]).map_err(backend),
                Some(keys) => {
                    let tx = c.transaction().map_err(backend)?;
                    let mut moved = 0;
                    {
                        let mut one = tx
                            .prepare_cached(&format!("{sql} AND key = ?2"))
                            .map_err(backend)?;
                        for key in &keys {
                            moved += one.execute(params![now, key]).map_err(backend)?;
                        }
                    }
                    tx.commit().map_err(backend)?;
                    Ok(moved)
                }
            }
        })
        .await
    }

    async fn counts(&self) -> Result<QueueCounts, StoreError> {
        self.call(|c| {
            let mut counts = QueueCounts::default();
            let mut select = c
                .prepare_cached("SELECT state, count(*) FROM email_webhooks_jobs GROUP BY state")
                .map_err(backend)?;
            let rows = select
                .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
                .map_err(backend)?;
            for row in rows {
                let (state, n) = row.map_err(backend)?;
                let n = as_u64(n);
                match state {
                    0 => counts.ready = n,
                    1 => counts.running = n,
                    2 => counts.done = n,
                    _ => counts.dead = n,
                }
            }
            let oldest: Option<i64> = c
                .prepare_cached(
                    "SELECT min(at) FROM email_webhooks_jobs WHERE state = 0 AND at <= ?1",
                )
                .and_then(|mut s| s.query_row(params![millis(SystemTime::now())], |r| r.get(0)))
                .map_err(backend)?;
            counts.oldest_ready = oldest.map(from_millis);
            Ok(counts)
        })
        .await
    }
}
