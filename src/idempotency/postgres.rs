//! A PostgreSQL store (feature `postgres`), shared by every replica.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::GenericClient;

use super::{Claim, IdempotencyStore, LEASE_GRACE, StoreError, Token, capped};

/// The table every replica shares. `nonce` is the holder's token while the
/// key is held and `NULL` once completed; `expires_at` ends the lease or the
/// retention. Times come from the database server's clock, so replicas
/// agree on them.
const CREATE_TABLE: &str = "\
CREATE TABLE IF NOT EXISTS email_webhooks_idempotency (
    key        TEXT PRIMARY KEY,
    nonce      BYTEA,
    completed  BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS email_webhooks_idempotency_expires
    ON email_webhooks_idempotency (expires_at)";

/// Deletes at most `$2` rows that expired more than `$1` seconds ago (the
/// lease grace: a lapsed claim can still be completed or released until
/// then; a completed key past its retention is forgotten either way).
/// Rows another statement holds are skipped, so it never waits.
const PURGE: &str = "\
DELETE FROM email_webhooks_idempotency WHERE key IN (
    SELECT key FROM email_webhooks_idempotency
     WHERE expires_at < now() - make_interval(secs => $1)
     ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// Claims a key in one statement: insert, or take over an expired row.
/// Returns a row when this call claimed it.
const BEGIN: &str = "\
INSERT INTO email_webhooks_idempotency AS t (key, nonce, completed, expires_at)
VALUES ($1, $2, FALSE, now() + make_interval(secs => $3))
ON CONFLICT (key) DO UPDATE
    SET nonce = EXCLUDED.nonce, completed = FALSE, expires_at = EXCLUDED.expires_at
    WHERE t.expires_at <= now()
RETURNING 1";

/// When `BEGIN` claimed nothing, what holds the key: read in a statement of
/// its own, so with a fresh snapshot. (A subquery of `BEGIN` would read its
/// snapshot from before a concurrent takeover it waited for, and answer
/// `Completed` for a key another worker had just claimed.)
/// `BEGIN` and `STATE` for every key of a delivery, in one statement: one
/// round trip. Rows are claimed in key order, so two replicas claiming
/// overlapping deliveries lock them in the same order. The outer `SELECT`
/// reads the table as it was before the statement: exactly the state of the
/// keys not claimed.
const BEGIN_MANY: &str = "\
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS i(key, nonce, ord)
), claimed AS (
    INSERT INTO email_webhooks_idempotency AS t (key, nonce, completed, expires_at)
    SELECT key, nonce, FALSE, now() + make_interval(secs => $3) FROM input ORDER BY key
    ON CONFLICT (key) DO UPDATE
        SET nonce = EXCLUDED.nonce, completed = FALSE, expires_at = EXCLUDED.expires_at
        WHERE t.expires_at <= now()
    RETURNING t.key
)
SELECT claimed.key IS NOT NULL AS acquired,
       COALESCE(s.completed AND s.expires_at > now(), FALSE) AS completed
  FROM input
  LEFT JOIN claimed ON claimed.key = input.key
  LEFT JOIN email_webhooks_idempotency s ON s.key = input.key
 ORDER BY input.ord";

const STATE: &str = "\
SELECT completed FROM email_webhooks_idempotency WHERE key = $1 AND expires_at > now()";

/// Completes a claim while the row holds the token's nonce: also after the
/// lease ended, for the grace period (`$4` seconds), if nobody took it over.
const COMPLETE: &str = "\
UPDATE email_webhooks_idempotency
   SET completed = TRUE, nonce = NULL, expires_at = now() + make_interval(secs => $3)
 WHERE key = $1 AND nonce = $2 AND NOT completed
   AND expires_at + make_interval(secs => $4) > now()";

/// Releases a claim on the same condition.
const RELEASE: &str = "\
DELETE FROM email_webhooks_idempotency
 WHERE key = $1 AND nonce = $2 AND NOT completed
   AND expires_at + make_interval(secs => $3) > now()";

/// An [`IdempotencyStore`] on PostgreSQL: `INSERT … ON CONFLICT` with
/// takeover of expired leases, one statement per operation.
///
/// Create the table with [`PostgresStore::create_table`] (or run
/// [`PostgresStore::CREATE_TABLE`] in your migrations). To make the business write and the
/// completion commit together, call [`PostgresStore::complete_in`] with your
/// own transaction.
///
/// **Reconnects by itself:** the store holds a
/// [`deadpool_postgres`] pool (16 connections by default). A connection
/// the server closed (a restart, a failover) is dropped when it is next
/// taken from the pool and a new one is made; the call that meets the
/// failure returns [`StoreError::Backend`] (answer 503: the provider
/// retries). Waiting for, making and checking a connection each time out
/// after 5 seconds, and each statement after 5 seconds
/// (`statement_timeout`, with TCP keepalives on), so a dead server or a
/// held lock fails fast. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// When expired rows were last purged, and how often; shared by clones.
    purge: std::sync::Arc<Purge>,
}

/// The store's own purge of expired rows (see [`PostgresStore::purge_expired`]).
#[derive(Debug)]
struct Purge {
    every: Duration,
    last: std::sync::Mutex<std::time::Instant>,
}

impl Purge {
    fn every(every: Duration) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            every,
            last: std::sync::Mutex::new(std::time::Instant::now()),
        })
    }
}

/// How often a store purges expired rows by default.
const PURGE_EVERY: Duration = Duration::from_secs(60);

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

/// Runs `schema` (`CREATE … IF NOT EXISTS` statements) under an advisory
/// lock: replicas starting together would race `CREATE TABLE IF NOT EXISTS`
/// (it can fail on the catalog's unique index). The lock id is
/// "email-webhooks" in ASCII. Shared by the store and the queue.
pub(crate) async fn create_locked(pool: &Pool, schema: &str) -> Result<(), StoreError> {
    let script =
        format!("BEGIN; SELECT pg_advisory_xact_lock(7881696737204596587); {schema}; COMMIT;");
    let client = pool.get().await.map_err(pool_error)?;
    let result = client.batch_execute(&script).await;
    if result.is_err() {
        // The connection may be left inside the failed transaction: keep
        // it out of the pool.
        drop(deadpool_postgres::Object::take(client));
    }
    result.map_err(backend)
}

async fn purge(pool: &Pool, max: i64) -> Result<u64, StoreError> {
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client.prepare_cached(PURGE).await.map_err(backend)?;
    client
        .execute(&statement, &[&seconds(LEASE_GRACE), &max])
        .await
        .map_err(backend)
}

pub(crate) fn backend(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

pub(crate) fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Backend(Box::new(e))
}

pub(crate) fn seconds(d: Duration) -> f64 {
    capped(d).as_secs_f64()
}

impl PostgresStore {
    /// The table every replica shares, for your migrations:
    ///
    /// ```sql
    /// CREATE TABLE IF NOT EXISTS email_webhooks_idempotency (
    ///     key        TEXT PRIMARY KEY,
    ///     nonce      BYTEA,                  -- the holder's token; NULL once completed
    ///     completed  BOOLEAN NOT NULL DEFAULT FALSE,
    ///     expires_at TIMESTAMPTZ NOT NULL    -- end of the lease, or of the retention
    /// );
    /// CREATE INDEX IF NOT EXISTS email_webhooks_idempotency_expires
    ///     ON email_webhooks_idempotency (expires_at)   -- for the purge
    /// ```
    ///
    /// Times come from the database server's clock, so replicas agree.
    pub const CREATE_TABLE: &'static str = CREATE_TABLE;

    /// A store over a pool of plain-TCP connections to `config`, a
    /// libpq-style connection string (`host=127.0.0.1 user=app dbname=app`)
    /// or URL. Connections are made when first needed, so a server that is
    /// down now does not prevent starting. For TLS, build the pool yourself
    /// and use [`from_pool`](Self::from_pool).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if `config` does not parse.
    pub fn connect(config: &str) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = config.parse().map_err(backend)?;
        // Every statement of the store gives up after 5 seconds (a lock held
        // by a caller's open transaction, a stalled server): the webhook is
        // answered 503 and retried, instead of hanging. Options in the
        // connection string still apply; this one is added to them.
        let options = match config.get_options() {
            Some(given) => format!("{given} -c statement_timeout=5000"),
            None => "-c statement_timeout=5000".to_owned(),
        };
        config.options(&options);
        config.keepalives(true);
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let timeout = Some(Duration::from_secs(5));
        let pool = Pool::builder(manager)
            .max_size(16)
            .wait_timeout(timeout)
            .create_timeout(timeout)
            .recycle_timeout(timeout)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Self::from_pool(pool))
    }

    /// A store over a pool you built (TLS, sizes, timeouts of your own).
    #[must_use]
    pub fn from_pool(pool: Pool) -> Self {
        Self {
            pool,
            purge: Purge::every(PURGE_EVERY),
        }
    }

    /// How often the store deletes expired rows by itself (default every
    /// minute, up to 10,000 rows each time; see
    /// [`purge_expired`](Self::purge_expired)). The first is one interval
    /// after the store is made.
    #[must_use]
    pub fn with_purge_interval(mut self, every: Duration) -> Self {
        self.purge = Purge::every(every);
        self
    }

    /// Starts a purge in a task of its own when one is due (and a Tokio
    /// runtime runs this call): never in a claim's way, never more than one
    /// an interval. Its failure waits for the next: nothing depends on it.
    fn purge_if_due(&self) {
        let Ok(mut last) = self.purge.last.try_lock() else {
            return;
        };
        if last.elapsed() < self.purge.every {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            *last = std::time::Instant::now();
            let pool = self.pool.clone();
            // Batches of 10,000 while full ones come back, up to ten a
            // run: a backlog shrinks by 100,000 rows a minute.
            runtime.spawn(async move {
                for _ in 0..10 {
                    match purge(&pool, 10_000).await {
                        Ok(10_000) => {}
                        _ => break,
                    }
                }
            });
        }
    }

    /// Deletes up to 10,000 rows whose lease or retention ended more than
    /// [`LEASE_GRACE`] ago, and returns how many it deleted. The store does
    /// this by itself once a minute ([`with_purge_interval`](Self::with_purge_interval)),
    /// up to 100,000 rows, in a task of its own started by a claim; a store
    /// and its clones share the schedule, so make one store and clone it
    /// (a store made for each request, or a process that lives less than
    /// the interval, never purges). Call this from a scheduled job where
    /// that is so, or to clear a backlog faster (again while it returns
    /// 10,000). It
    /// reads the rows through the index on `expires_at` that
    /// [`CREATE_TABLE`](Self::CREATE_TABLE) makes: on a large table made
    /// without it, build it first with `CREATE INDEX CONCURRENTLY`
    /// (outside the store's 5-second statement timeout).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the statement fails.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        purge(&self.pool, 10_000).await
    }

    /// The store's connection pool (a [`PostgresQueue`](crate::queue::PostgresQueue)
    /// can share it).
    #[must_use]
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Creates the table if it does not exist ([`Self::CREATE_TABLE`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the statement fails.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        create_locked(&self.pool, CREATE_TABLE).await
    }

    /// Completes the claim inside `client`, typically your own transaction,
    /// so that the idempotency record commits (or rolls back) with your
    /// business write.
    ///
    /// # Errors
    ///
    /// [`StoreError::StaleToken`] if the token no longer holds the key,
    /// [`StoreError::Backend`] if the statement fails.
    pub async fn complete_in<C: GenericClient + Sync>(
        client: &C,
        token: &Token,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let rows = client
            .execute(
                COMPLETE,
                &[
                    &token.key,
                    &&token.nonce[..],
                    &seconds(retention),
                    &seconds(LEASE_GRACE),
                ],
            )
            .await
            .map_err(backend)?;
        super::settled(rows)
    }
}

impl IdempotencyStore for PostgresStore {
    fn begin(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        let token = Token::new(key);
        let pool = self.pool.clone();
        self.purge_if_due();
        async move {
            let token = token?;
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client.prepare_cached(BEGIN).await.map_err(backend)?;
            let claimed = client
                .query_opt(
                    &statement,
                    &[&token.key, &&token.nonce[..], &seconds(lease)],
                )
                .await
                .map_err(backend)?;
            if claimed.is_some() {
                return Ok(Claim::Acquired(token));
            }
            let state = client
                .query_opt(STATE, &[&token.key])
                .await
                .map_err(backend)?;
            let completed: Option<bool> = match state {
                Some(row) => row.try_get(0).map_err(backend)?,
                None => None,
            };
            // Completed only when the live row says so; a row that vanished
            // or expired since is someone's to take: come back later.
            Ok(if completed == Some(true) {
                Claim::Completed
            } else {
                Claim::InProgress
            })
        }
    }

    /// One statement for the whole delivery: one round trip.
    async fn begin_many(&self, keys: &[String], lease: Duration) -> Result<Vec<Claim>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let tokens = Token::many(keys)?;
        self.purge_if_due();
        // One statement cannot upsert a row twice: a repeated key is
        // claimed once, and its repeats are in progress (held by it).
        let mut seen = std::collections::HashSet::new();
        let first: Vec<bool> = tokens.iter().map(|t| seen.insert(t.key.clone())).collect();
        let (names, nonces): (Vec<&str>, Vec<&[u8]>) = tokens
            .iter()
            .zip(&first)
            .filter(|(_, first)| **first)
            .map(|(t, _)| (t.key.as_str(), &t.nonce[..]))
            .unzip();
        let client = self.pool.get().await.map_err(pool_error)?;
        let statement = client.prepare_cached(BEGIN_MANY).await.map_err(backend)?;
        let rows = client
            .query(&statement, &[&names, &nonces, &seconds(lease)])
            .await
            .map_err(backend)?;
        if rows.len() != names.len() {
            return Err(StoreError::Backend(
                "the claim statement answered the wrong number of keys".into(),
            ));
        }
        let mut rows = rows.into_iter();
        let mut claims = Vec::with_capacity(tokens.len());
        for (token, first) in tokens.into_iter().zip(first) {
            if !first {
                claims.push(Claim::InProgress);
                continue;
            }
            let Some(row) = rows.next() else {
                return Err(StoreError::Backend("a claim row is missing".into()));
            };
            let acquired: bool = row.try_get(0).map_err(backend)?;
            let completed: bool = row.try_get(1).map_err(backend)?;
            claims.push(if acquired {
                Claim::Acquired(token)
            } else if completed {
                Claim::Completed
            } else {
                Claim::InProgress
            });
        }
        Ok(claims)
    }

    fn complete(
        &self,
        token: &Token,
        retention: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let pool = self.pool.clone();
        async move {
            let client = pool.get().await.map_err(pool_error)?;
            Self::complete_in(&**client, token, retention).await
        }
    }

    fn release(&self, token: &Token) -> impl Future<Output = Result<(), StoreError>> + Send {
        let pool = self.pool.clone();
        async move {
            let client = pool.get().await.map_err(pool_error)?;
            let rows = client
                .execute(
                    RELEASE,
                    &[&token.key, &&token.nonce[..], &seconds(LEASE_GRACE)],
                )
                .await
                .map_err(backend)?;
            super::settled(rows)
        }
    }
}
