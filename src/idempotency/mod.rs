//! Processing each event once, in effect, without losing one when a handler
//! fails: a two-phase claim on each event's idempotency key, like a lease.
//!
//! Providers redeliver whole batches on any non-2xx, retry for hours, and
//! send duplicates even when nothing failed. The protocol:
//!
//! 1. [`IdempotencyStore::begin`] the event's key with a lease. It is atomic:
//!    of many concurrent callers, exactly one gets [`Claim::Acquired`].
//! 2. Handle the event.
//! 3. On success, [`complete`](IdempotencyStore::complete) the claim: for the
//!    retention period every later `begin` says [`Claim::Completed`] and the
//!    duplicate is acknowledged without reprocessing.
//! 4. On failure, [`release`](IdempotencyStore::release) it, so that the
//!    provider's retry is processed instead of dropped.
//!
//! A lease that is never completed or released expires, so a crashed worker
//! does not block the key forever; another worker can then acquire it. A
//! stale token (its lease expired and another worker acquired the key) can
//! neither complete nor release the new holder's claim.
//!
//! [`MemoryStore`] is the in-process default; shared stores for many
//! replicas build on Redis or PostgreSQL.

use std::fmt;
use std::future::Future;
use std::time::Duration;

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;

/// Proof of an acquired claim, needed to complete or release it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    key: String,
    nonce: [u8; 16],
}

impl Token {
    /// A token for `key` with a fresh random nonce.
    pub(crate) fn new(key: &str) -> Result<Self, StoreError> {
        use ring::rand::SecureRandom as _;
        let mut nonce = [0u8; 16];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| StoreError::Backend("the system random source failed".into()))?;
        Ok(Self {
            key: key.to_owned(),
            nonce,
        })
    }

    /// The claimed key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The nonce that tells this claim from earlier and later ones on the
    /// same key.
    #[must_use]
    pub fn nonce(&self) -> &[u8; 16] {
        &self.nonce
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What [`IdempotencyStore::begin`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Claim {
    /// The key is yours until the lease ends: handle the event, then
    /// complete or release.
    Acquired(Token),
    /// Another worker holds a live lease: answer with a retryable status.
    InProgress,
    /// The event was processed: acknowledge the duplicate.
    Completed,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The token's lease expired and another worker acquired the key, or the
    /// claim was already completed or released. Code `stale_token`.
    #[error("the claim is no longer held by this token")]
    StaleToken,
    /// The store is at capacity with live claims. Code `store_full`.
    #[error("the store is full ({capacity} live keys)")]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
    /// The backend failed. Code `store_unavailable`.
    #[error("the idempotency store failed: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// The stable code of this error.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::StaleToken => "stale_token",
            Self::Full { .. } => "store_full",
            Self::Backend(_) => "store_unavailable",
        }
    }
}

/// A place to claim idempotency keys; see the [module docs](self) for the
/// protocol. Implementations must make `begin` atomic. The futures are
/// `Send`, so the trait works from any runtime.
pub trait IdempotencyStore: Send + Sync {
    /// Claims `key` for `lease`, unless it is held or completed.
    fn begin(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Marks the claim done; `begin` answers [`Claim::Completed`] for
    /// `retention`.
    fn complete(
        &self,
        token: &Token,
        retention: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives the key back after a failure, so a retry can acquire it.
    fn release(&self, token: &Token) -> impl Future<Output = Result<(), StoreError>> + Send;
}
