//! The in-process queue: for tests and demos. It loses everything on a
//! crash or restart.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use super::{ClaimedJob, DeadLetter, NewJob, Queue, QueueCounts, StoreError, batch};

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
    next: u64,
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

    fn settle(
        &self,
        job: &ClaimedJob,
        change: impl FnOnce(&mut Row, SystemTime),
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        match inner.rows.get_mut(&job.key) {
            Some(row) if row.fence == job.fence && row.state == State::Running => {
                change(row, SystemTime::now());
                Ok(())
            }
            _ => Err(StoreError::StaleToken),
        }
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
        let retention = self.retention;
        inner
            .rows
            .retain(|_, row| row.state != State::Done || later(row.at, retention) > now);
        let new = jobs
            .iter()
            .filter(|job| !inner.rows.contains_key(&job.key))
            .count();
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
            answers.push(true);
        }
        Ok(answers)
    }

    async fn claim(&self, max: usize, lease: Duration) -> Result<Vec<ClaimedJob>, StoreError> {
        let now = SystemTime::now();
        let mut inner = self.lock();
        let mut due: Vec<(u64, String)> = inner
            .rows
            .iter()
            .filter(|(_, row)| matches!(row.state, State::Ready | State::Running) && row.at <= now)
            .map(|(key, row)| (row.order, key.clone()))
            .collect();
        due.sort_unstable();
        due.truncate(batch(max));
        let mut claimed = Vec::with_capacity(due.len());
        for (_, key) in due {
            if let Some(row) = inner.rows.get_mut(&key) {
                row.state = State::Running;
                row.fence += 1;
                row.at = later(now, lease);
                claimed.push(ClaimedJob {
                    id: key.clone(),
                    key,
                    payload: row.payload.clone(),
                    attempts: row.attempts,
                    fence: row.fence,
                    enqueued_at: row.enqueued_at,
                });
            }
        }
        Ok(claimed)
    }

    async fn complete(&self, job: &ClaimedJob) -> Result<(), StoreError> {
        let mut inner = self.lock();
        match inner.rows.get_mut(&job.key) {
            Some(row) if row.fence == job.fence && row.state == State::Done => Ok(()),
            Some(row) if row.fence == job.fence && row.state == State::Running => {
                row.state = State::Done;
                row.at = SystemTime::now();
                row.payload = String::new();
                Ok(())
            }
            _ => Err(StoreError::StaleToken),
        }
    }

    async fn retry(
        &self,
        job: &ClaimedJob,
        delay: Duration,
        error: &str,
    ) -> Result<(), StoreError> {
        self.settle(job, |row, now| {
            row.state = State::Ready;
            row.attempts = row.attempts.saturating_add(1);
            row.at = later(now, delay);
            error.clone_into(&mut row.error);
        })
    }

    async fn release(&self, job: &ClaimedJob) -> Result<(), StoreError> {
        self.settle(job, |row, now| {
            row.state = State::Ready;
            row.at = now;
        })
    }

    async fn bury(&self, job: &ClaimedJob, error: &str) -> Result<(), StoreError> {
        self.settle(job, |row, now| {
            row.state = State::Dead;
            row.attempts = row.attempts.saturating_add(1);
            row.at = now;
            error.clone_into(&mut row.error);
        })
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
        let mut moved = 0;
        for (key, row) in &mut inner.rows {
            if row.state == State::Dead && keys.is_none_or(|keys| keys.contains(key)) {
                row.state = State::Ready;
                row.attempts = 0;
                row.at = now;
                moved += 1;
            }
        }
        Ok(moved)
    }

    async fn counts(&self) -> Result<QueueCounts, StoreError> {
        let inner = self.lock();
        let mut counts = QueueCounts::default();
        for row in inner.rows.values() {
            match row.state {
                State::Ready => counts.ready += 1,
                State::Running => counts.running += 1,
                State::Done => counts.done += 1,
                State::Dead => counts.dead += 1,
            }
        }
        Ok(counts)
    }
}
