//! The in-process queue: for tests and demos. It loses everything on a
//! crash or restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::{ClaimedJob, DeadLetter, NewJob, Queue, QueueCounts, Settlement, StoreError, batch};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Running,
    Done,
    Dead,
}

#[derive(Debug)]
struct Row {
    payload: String,
    state: State,
    attempts: u32,
    fence: u64,
    /// Ready: due at. Running: lease ends at. Done: done at.
    at: SystemTime,
    enqueued_at: SystemTime,
    error: String,
    order: u64,
}

#[derive(Debug, Default)]
struct Inner {
    rows: HashMap<String, Row>,
    /// Ready and running rows by (due or lease end, arrival): what a claim
    /// walks, in order, without looking at done or dead rows.
    due: BTreeMap<(SystemTime, u64), String>,
    /// Done rows by when they were done: what the retention purges.
    done: BTreeMap<(SystemTime, u64), String>,
    next: u64,
}

impl Inner {
    /// Moves `key`'s row to `state` at `at`, keeping the index right.
    fn set(&mut self, key: &str, state: State, at: SystemTime) {
        let Some(row) = self.rows.get_mut(key) else {
            return;
        };
        match row.state {
            State::Ready | State::Running => {
                self.due.remove(&(row.at, row.order));
            }
            State::Done => {
                self.done.remove(&(row.at, row.order));
            }
            State::Dead => {}
        }
        row.state = state;
        row.at = at;
        match state {
            State::Ready | State::Running => {
                self.due.insert((at, row.order), key.to_owned());
            }
            State::Done => {
                self.done.insert((at, row.order), key.to_owned());
            }
            State::Dead => {}
        }
    }

    /// Forgets done rows whose retention ended.
    fn purge(&mut self, before: SystemTime) {
        while let Some(entry) = self.done.first_entry() {
            if entry.key().0 >= before {
                break;
            }
            let key = entry.remove();
            self.rows.remove(&key);
        }
    }
}

/// A queue in this process's memory, **for tests and demos only: it loses
/// every queued event on a crash or restart**, after the provider was told
/// they were received. Bounded by its capacity (live keys, handled ones
/// included until their retention ends); over it, enqueue fails (answered
/// 503).
#[derive(Debug)]
pub struct MemoryQueue {
    inner: Mutex<Inner>,
    capacity: usize,
    retention: Duration,
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryQueue {
    /// An empty queue holding up to 100,000 keys, remembering handled keys
    /// for [`DEFAULT_RETENTION`](super::DEFAULT_RETENTION).
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity: 100_000,
            retention: super::DEFAULT_RETENTION,
        }
    }

    /// At most `capacity` live keys.
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Handled keys are remembered (redeliveries are duplicates) for
    /// `retention`.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves a job held by `job`'s claim to `state` at `at`, after
    /// `change` (attempts, error).
    fn update(
        &self,
        job: &ClaimedJob,
        state: State,
        at: SystemTime,
        change: impl FnOnce(&mut Row),
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        match inner.rows.get_mut(&job.key) {
            Some(row) if row.fence == job.fence && row.state == State::Running => {
                change(row);
                inner.set(&job.key, state, at);
                Ok(())
            }
            _ => Err(StoreError::StaleToken),
        }
    }
}

/// A failed attempt: counted, and its error remembered.
fn failed(error: &str) -> impl FnOnce(&mut Row) + '_ {
    move |row| {
        row.attempts = row.attempts.saturating_add(1);
        error.clone_into(&mut row.error);
    }
}

fn later(now: SystemTime, by: Duration) -> SystemTime {
    now.checked_add(crate::idempotency::capped(by))
        .unwrap_or(now)
}

impl Queue for MemoryQueue {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<bool>, StoreError> {
        let now = SystemTime::now();
        let mut inner = self.lock();
        if let Some(before) = now.checked_sub(crate::idempotency::capped(self.retention)) {
            inner.purge(before);
        }
        // Distinct new keys: a key repeated within the batch is stored once.
        let new = jobs
            .iter()
            .map(|job| job.key.as_str())
            .filter(|key| !inner.rows.contains_key(*key))
            .collect::<std::collections::HashSet<_>>()
            .len();
        if inner.rows.len().saturating_add(new) > self.capacity {
            return Err(StoreError::Full {
                capacity: self.capacity,
            });
        }
        let mut answers = Vec::with_capacity(jobs.len());
        for job in jobs {
            if inner.rows.contains_key(&job.key) {
                answers.push(false);
                continue;
            }
            inner.next += 1;
            let order = inner.next;
            inner.rows.insert(
                job.key.clone(),
                Row {
                    payload: job.payload.clone(),
                    state: State::Ready,
                    attempts: 0,
                    fence: 0,
                    at: now,
                    enqueued_at: now,
                    error: String::new(),
                    order,
                },
            );
            inner.due.insert((now, order), job.key.clone());
            answers.push(true);
        }
        Ok(answers)
    }

    async fn claim(&self, max: usize, lease: Duration) -> Result<Vec<ClaimedJob>, StoreError> {
        let now = SystemTime::now();
        let mut inner = self.lock();
        let keys: Vec<String> = inner
            .due
            .iter()
            .take_while(|((at, _), _)| *at <= now)
            .take(batch(max))
            .map(|(_, key)| key.clone())
            .collect();
        let mut claimed = Vec::with_capacity(keys.len());
        for key in keys {
            // A running job whose lease ended: its claim lapsed, an attempt.
            let mut taken_over = false;
            if let Some(row) = inner.rows.get_mut(&key) {
                if row.state == State::Running {
                    row.attempts = row.attempts.saturating_add(1);
                    taken_over = true;
                }
            }
            inner.set(&key, State::Running, later(now, lease));
            if let Some(row) = inner.rows.get_mut(&key) {
                row.fence += 1;
                claimed.push(ClaimedJob {
                    id: key.clone(),
                    payload: row.payload.clone(),
                    attempts: row.attempts,
                    fence: row.fence,
                    enqueued_at: row.enqueued_at,
                    key,
                    taken_over,
                });
            }
        }
        Ok(claimed)
    }

    async fn renew(&self, job: &ClaimedJob, lease: Duration) -> Result<(), StoreError> {
        self.update(job, State::Running, later(SystemTime::now(), lease), |_| {})
    }

    async fn settle(&self, job: &ClaimedJob, settlement: Settlement<'_>) -> Result<(), StoreError> {
        let now = SystemTime::now();
        match settlement {
            Settlement::Complete => {
                let mut inner = self.lock();
                match inner.rows.get_mut(&job.key) {
                    // Done again by the same claim is success.
                    Some(row) if row.fence == job.fence && row.state == State::Done => Ok(()),
                    Some(row) if row.fence == job.fence && row.state == State::Running => {
                        row.payload = String::new();
                        inner.set(&job.key, State::Done, now);
                        Ok(())
                    }
                    _ => Err(StoreError::StaleToken),
                }
            }
            Settlement::Retry { delay, error } => {
                self.update(job, State::Ready, later(now, delay), failed(error))
            }
            Settlement::Release => self.update(job, State::Ready, now, |_| {}),
            Settlement::Bury { error } => self.update(job, State::Dead, now, failed(error)),
        }
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let inner = self.lock();
        let mut dead: Vec<(SystemTime, u64, DeadLetter)> = inner
            .rows
            .iter()
            .filter(|(_, row)| row.state == State::Dead)
            .map(|(key, row)| {
                (
                    row.at,
                    row.order,
                    DeadLetter {
                        key: key.clone(),
                        payload: row.payload.clone(),
                        attempts: row.attempts,
                        error: row.error.clone(),
                    },
                )
            })
            .collect();
        dead.sort_unstable_by_key(|(at, order, _)| (*at, *order));
        dead.truncate(batch(limit));
        Ok(dead.into_iter().map(|(_, _, letter)| letter).collect())
    }

    async fn requeue(&self, keys: Option<&[String]>) -> Result<usize, StoreError> {
        let now = SystemTime::now();
        let mut inner = self.lock();
        let dead: Vec<String> = inner
            .rows
            .iter()
            .filter(|(key, row)| {
                row.state == State::Dead && keys.is_none_or(|keys| keys.contains(key))
            })
            .map(|(key, _)| key.clone())
            .collect();
        let mut moved = 0;
        for key in dead {
            if let Some(row) = inner.rows.get_mut(&key) {
                row.attempts = 0;
                inner.set(&key, State::Ready, now);
                moved += 1;
            }
        }
        Ok(moved)
    }

    async fn counts(&self) -> Result<QueueCounts, StoreError> {
        let now = SystemTime::now();
        let inner = self.lock();
        let mut counts = QueueCounts::default();
        for row in inner.rows.values() {
            match row.state {
                State::Ready => {
                    counts.ready += 1;
                    if row.at <= now && counts.oldest_ready.is_none_or(|oldest| row.at < oldest) {
                        counts.oldest_ready = Some(row.at);
                    }
                }
                State::Running => counts.running += 1,
                State::Done => counts.done += 1,
                State::Dead => counts.dead += 1,
            }
        }
        Ok(counts)
    }
}
