//! The in-process store.

use std::collections::HashMap;
use std::future::{Future, ready};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;

use super::{Claim, IdempotencyStore, StoreError, Token};
use crate::replay::{Clock, SystemClock};

#[derive(Debug, Clone, Copy)]
enum State {
    Held {
        nonce: [u8; 16],
        until: OffsetDateTime,
    },
    Completed {
        until: OffsetDateTime,
    },
}

impl State {
    fn until(&self) -> OffsetDateTime {
        match self {
            Self::Held { until, .. } | Self::Completed { until } => *until,
        }
    }
}

/// An in-memory [`IdempotencyStore`]: bounded, cheap to clone (clones share
/// the same map), for a single process. Several replicas need a shared store.
///
/// Defaults: capacity 100,000 keys, the system clock. Expired entries are
/// swept when the store is full; if it is still full of live entries,
/// `begin` fails with [`StoreError::Full`] (answer with a retryable status:
/// dropping the event is never the store's decision).
#[derive(Clone)]
pub struct MemoryStore {
    entries: Arc<Mutex<HashMap<String, State>>>,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.lock().map(|m| m.len()).unwrap_or_default())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with the defaults.
    #[must_use]
    pub fn new() -> Self {
        Self {
            entries: Arc::new(Mutex::new(HashMap::new())),
            capacity: 100_000,
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets the most keys held at once (default 100,000).
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Uses `clock` instead of the system clock (for tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Live and expired entries currently stored.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().map(|m| m.len()).unwrap_or_default()
    }

    /// Whether the store holds no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> Result<MutexGuard<'_, HashMap<String, State>>, StoreError> {
        self.entries
            .lock()
            .map_err(|_| StoreError::Backend("the store's lock is poisoned".into()))
    }

    fn begin_now(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let now = self.clock.now();
        let mut map = self.lock()?;
        if let Some(state) = map.get(key) {
            // A live entry answers; an expired one is taken over below.
            if state.until() > now {
                return Ok(match state {
                    State::Held { .. } => Claim::InProgress,
                    State::Completed { .. } => Claim::Completed,
                });
            }
        } else if map.len() >= self.capacity {
            map.retain(|_, state| state.until() > now);
            if map.len() >= self.capacity {
                return Err(StoreError::Full {
                    capacity: self.capacity,
                });
            }
        }
        let token = Token::new(key)?;
        map.insert(
            key.to_owned(),
            State::Held {
                nonce: token.nonce,
                until: now + lease,
            },
        );
        Ok(Claim::Acquired(token))
    }

    /// Applies `f` to the entry only while `token` holds it.
    fn with_held(
        &self,
        token: &Token,
        f: impl FnOnce(&mut HashMap<String, State>),
    ) -> Result<(), StoreError> {
        let mut map = self.lock()?;
        match map.get(&token.key) {
            Some(State::Held { nonce, .. }) if *nonce == token.nonce => {
                f(&mut map);
                Ok(())
            }
            _ => Err(StoreError::StaleToken),
        }
    }
}

impl IdempotencyStore for MemoryStore {
    fn begin(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        ready(self.begin_now(key, lease))
    }

    fn complete(
        &self,
        token: &Token,
        retention: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let until = self.clock.now() + retention;
        ready(self.with_held(token, |map| {
            map.insert(token.key.clone(), State::Completed { until });
        }))
    }

    fn release(&self, token: &Token) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(self.with_held(token, |map| {
            map.remove(&token.key);
        }))
    }
}
