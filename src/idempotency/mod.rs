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
//! Every store behaves the same at the edges (the shared contract suite in
//! `tests/store_contract.rs` runs against each):
//!
//! - **An expired lease nobody took over** can still be completed (the
//!   event *was* handled: refusing would have it processed again) or
//!   released by its token, for [`LEASE_GRACE`] (one hour) after the lease
//!   ended. Once another worker has acquired the key, or the token was
//!   spent (completed or released), it gets [`StoreError::StaleToken`].
//! - **Keys are bounded:** a key longer than [`MAX_KEY_BYTES`] is stored as
//!   its first 64 bytes followed by `~sha256:` and the SHA-256 of the whole
//!   key, so any key fits a PostgreSQL index and costs bounded memory;
//!   [`Token::key`] is the stored form.
//! - **Durations are capped** at [`MAX_TTL`] (100 years), so a lease or
//!   retention of [`Duration::MAX`] means "practically forever" instead of
//!   an overflow.
//!
//! [`MemoryStore`] is the in-process default; shared stores for many
//! replicas build on Redis or PostgreSQL.

use std::fmt;
use std::future::Future;
use std::time::Duration;

mod memory;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "redis")]
pub(crate) mod redis;

/// The pool [`PostgresStore`] runs on, for building one with TLS or sizes of
/// your own ([`PostgresStore::from_pool`]).
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use deadpool_postgres;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;

/// The longest key stored as it is, in bytes; longer keys are hashed (see
/// the [module docs](self)). Far below PostgreSQL's btree limit (about
/// 2,700 bytes) and above any provider's event key.
pub const MAX_KEY_BYTES: usize = 200;

/// How long after its lease ended a claim nobody took over can still be
/// completed or released by its token: one hour.
pub const LEASE_GRACE: Duration = Duration::from_secs(3600);

/// The longest lease or retention a store applies: 100 years.
pub const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The key as every store keeps it: unchanged up to [`MAX_KEY_BYTES`]
/// without a NUL character, else its first 64 bytes (at a character
/// boundary, and before any NUL), `~sha256:` and the SHA-256 of the whole
/// key in hex. PostgreSQL's text refuses NUL: a key holding one (an id a
/// provider sent with `\u0000`) would fail every statement of its
/// delivery, on every retry.
pub(crate) fn storage_key(key: &str) -> std::borrow::Cow<'_, str> {
    use sha2::Digest as _;
    let nul = key.find('\0');
    if key.len() <= MAX_KEY_BYTES && nul.is_none() {
        return std::borrow::Cow::Borrowed(key);
    }
    let mut end = nul.unwrap_or(key.len()).min(64);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    let digest = sha2::Sha256::digest(key.as_bytes());
    std::borrow::Cow::Owned(format!(
        "{}~sha256:{}",
        &key[..end],
        crate::encoding::hex(&digest)
    ))
}

/// `duration` capped at [`MAX_TTL`].
pub(crate) fn capped(duration: Duration) -> Duration {
    duration.min(MAX_TTL)
}

/// What a server store's settling statement or script answered: `1` (the
/// row or key it settled) when the token still held the claim, else the
/// claim was no longer its own.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn settled(count: u64) -> Result<(), StoreError> {
    if count == 1 {
        Ok(())
    } else {
        Err(StoreError::StaleToken)
    }
}

/// How long spending a single-use value may hold its keys before they are
/// free again: a request that fails (or dies) half way leaves nothing
/// held for longer.
const SPEND_LEASE: Duration = Duration::from_secs(60);

/// What the keys of spent single-use values start with: no event's or
/// message's key does (theirs start with the provider's name), so a store
/// can tell them apart and keep them longest ([`MemoryStore`] evicts them
/// last when full).
pub(crate) const SINGLE_USE: &str = "single-use:";

/// Spends a signed single-use value (Mailgun's timestamp and token) in
/// `store` for `remember`, for the delivery whose raw body is `body`.
///
/// First sight spends it: the body it came with is recorded, then the
/// value. Seen again (spent), it is refused
/// ([`VerifyError::Replayed`](crate::VerifyError::Replayed)) unless the
/// body is the very one it was first seen with: that is the provider
/// posting the same signed delivery again (a retry after an error, which
/// Mailgun may sign anew or not: its documentation does not say), and the
/// events' own keys decide what is a duplicate. A value reused with any
/// other body is a replay. While another request is spending the same value
/// the answer is [`StoreError::InProgress`] (503: sent again later). A
/// store failure half way gives back what was taken, and what it could not
/// give back is free again after [`SPEND_LEASE`]. A request that stalls
/// longer than that between its steps may find the value taken over by
/// another; the stores' own timeouts (seconds) keep that far off.
pub(crate) async fn spend_single_use<S: IdempotencyStore + ?Sized>(
    store: &S,
    key: &str,
    body: &[u8],
    remember: Duration,
) -> Result<(), crate::Error> {
    use sha2::{Digest as _, Sha256};
    let key = &format!("{SINGLE_USE}{key}");
    let with_body = format!("{key}:body:{}", crate::encoding::hex(&Sha256::digest(body)));
    match store.begin(key, SPEND_LEASE).await? {
        Claim::Acquired(claim) => {
            let recorded = async {
                // The body first: the value is never spent without it.
                match store.begin(&with_body, SPEND_LEASE).await? {
                    // Kept a lease longer than the value: a store that
                    // evicts or expires the earliest first never keeps the
                    // value without its body.
                    Claim::Acquired(seen) => {
                        let kept = remember.saturating_add(SPEND_LEASE);
                        if let Err(error) = store.complete(&seen, kept).await {
                            let _ = store.release(&seen).await;
                            return Err(error);
                        }
                    }
                    Claim::Completed => {}
                    Claim::InProgress => return Err(StoreError::InProgress),
                }
                store.complete(&claim, remember).await
            };
            if let Err(error) = recorded.await {
                let _ = store.release(&claim).await;
                return Err(error.into());
            }
            Ok(())
        }
        Claim::InProgress => Err(StoreError::InProgress.into()),
        Claim::Completed => match store.begin(&with_body, SPEND_LEASE).await? {
            Claim::Completed => Ok(()),
            Claim::Acquired(unseen) => {
                let _ = store.release(&unseen).await;
                Err(crate::VerifyError::Replayed.into())
            }
            Claim::InProgress => Err(crate::VerifyError::Replayed.into()),
        },
    }
}

/// A claim's nonce: 8 random bytes drawn once per process, then a counter.
/// Unique per claim (across replicas too, with overwhelming probability),
/// without a system call per claim; a nonce is only ever compared, never
/// trusted as a secret (tokens stay inside the process that claimed).
fn next_nonce() -> Result<[u8; 16], StoreError> {
    use ring::rand::SecureRandom as _;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: OnceLock<Option<[u8; 8]>> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = SEED
        .get_or_init(|| {
            let mut seed = [0u8; 8];
            ring::rand::SystemRandom::new().fill(&mut seed).ok()?;
            Some(seed)
        })
        .ok_or_else(|| StoreError::Backend("the system random source failed".into()))?;
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&seed);
    nonce[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    Ok(nonce)
}

/// Proof of an acquired claim, needed to complete or release it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    key: String,
    nonce: [u8; 16],
}

impl Token {
    /// A token for `key` (in its stored form, see [`storage_key`]) with a
    /// fresh random nonce.
    pub(crate) fn new(key: &str) -> Result<Self, StoreError> {
        let key = storage_key(key);
        Ok(Self {
            key: key.into_owned(),
            nonce: next_nonce()?,
        })
    }

    /// A token for each of `keys`, in order.
    #[cfg(any(feature = "redis", feature = "postgres"))]
    pub(crate) fn many(keys: &[String]) -> Result<Vec<Self>, StoreError> {
        keys.iter().map(|key| Self::new(key)).collect()
    }

    /// The claimed key, as stored (a key longer than [`MAX_KEY_BYTES`] is
    /// hashed).
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
    /// The store is at capacity with live claims (a [`MemoryStore`] evicts
    /// completed entries first, so only held claims fill it). Code
    /// `store_full`.
    #[error("the store is full ({capacity} live keys)")]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
    /// A job is over the queue's size bound (an inbound message over
    /// [`InboundLimits::max_queued_bytes`](crate::InboundLimits::max_queued_bytes)):
    /// refused, answered 503 so the provider keeps it. Code
    /// `job_too_large`.
    #[error("the job is {bytes} bytes, over the queue's limit of {limit}")]
    TooLarge {
        /// The job's encoded size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The backend failed. Code `store_unavailable`.
    #[error("the idempotency store failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Another request holds the key right now (a delivery whose
    /// single-use token is being spent at the same moment): answered 503,
    /// so the provider sends it again. Code `in_progress`.
    #[error("another request holds this key right now")]
    InProgress,
}

impl StoreError {
    /// The stable code of this error.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::StaleToken => "stale_token",
            Self::Full { .. } => "store_full",
            Self::TooLarge { .. } => "job_too_large",
            Self::Backend(_) => "store_unavailable",
            Self::InProgress => "in_progress",
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
    /// `retention`. Succeeds while the token holds the key, including up to
    /// [`LEASE_GRACE`] after its lease expired if nobody took the key over;
    /// [`StoreError::StaleToken`] otherwise.
    fn complete(
        &self,
        token: &Token,
        retention: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Gives the key back after a failure, so a retry can acquire it. As
    /// with [`complete`](Self::complete), the token must still hold the key
    /// (up to [`LEASE_GRACE`] after its lease); [`StoreError::StaleToken`]
    /// otherwise.
    fn release(&self, token: &Token) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Claims every key of one delivery, in order: one answer per key, as
    /// [`begin`](Self::begin) would give it. A key repeated in `keys` is
    /// [`Claim::InProgress`] after its first occurrence. Stores on a server
    /// override it to claim the whole delivery in one round trip (the Redis
    /// and PostgreSQL stores do); the default claims key by key and, if one
    /// claim fails, gives back the ones it took before returning the error.
    fn begin_many<'a>(
        &'a self,
        keys: &'a [String],
        lease: Duration,
    ) -> impl Future<Output = Result<Vec<Claim>, StoreError>> + Send + 'a {
        async move {
            let mut claims = Vec::with_capacity(keys.len());
            for key in keys {
                match self.begin(key, lease).await {
                    Ok(claim) => claims.push(claim),
                    Err(error) => {
                        // Given back up to the first failure of the store
                        // (not a claim taken over meanwhile): the rest
                        // expire with their leases.
                        for claim in &claims {
                            if let Claim::Acquired(token) = claim {
                                if let Err(e) = self.release(token).await {
                                    if !matches!(e, StoreError::StaleToken) {
                                        break;
                                    }
                                }
                            }
                        }
                        return Err(error);
                    }
                }
            }
            Ok(claims)
        }
    }
}
