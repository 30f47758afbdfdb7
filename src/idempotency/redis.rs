//! A Redis store (feature `redis`), shared by every replica.

use std::future::Future;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::{Claim, IdempotencyStore, StoreError, Token};
use crate::encoding;

/// An [`IdempotencyStore`] on Redis (7.0 or later): one round trip per
/// operation. `begin` is `SET key held:<nonce> NX PX <lease> GET`; `complete`
/// and `release` are small scripts that act only while the token's nonce is
/// the stored one, so a stale token never touches a newer claim.
///
/// Keys are stored as `<prefix><idempotency key>` (default prefix
/// `mailhook:idem:`); the connection is multiplexed and cheap to clone.
#[derive(Clone)]
pub struct RedisStore {
    connection: MultiplexedConnection,
    prefix: String,
    complete: redis::Script,
    release: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn backend(e: redis::RedisError) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn held(token: &Token) -> String {
    format!("held:{}", encoding::hex(&token.nonce))
}

impl RedisStore {
    /// Connects with `client` (for example `redis::Client::open("redis://127.0.0.1/")`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the connection fails.
    pub async fn connect(client: &redis::Client) -> Result<Self, StoreError> {
        let connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(backend)?;
        Ok(Self {
            connection,
            prefix: "mailhook:idem:".to_owned(),
            complete: redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                   redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2]) return 1 \
                 end return 0",
            ),
            release: redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then \
                   redis.call('DEL', KEYS[1]) return 1 \
                 end return 0",
            ),
        })
    }

    /// Sets the key prefix (default `mailhook:idem:`).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl IdempotencyStore for RedisStore {
    fn begin(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        let token = Token::new(key);
        let redis_key = self.key(key);
        let mut connection = self.connection.clone();
        async move {
            let token = token?;
            let previous: Option<String> = redis::cmd("SET")
                .arg(&redis_key)
                .arg(held(&token))
                .arg("NX")
                .arg("PX")
                .arg(millis(lease))
                .arg("GET")
                .query_async(&mut connection)
                .await
                .map_err(backend)?;
            Ok(match previous.as_deref() {
                None => Claim::Acquired(token),
                Some("done") => Claim::Completed,
                Some(_) => Claim::InProgress,
            })
        }
    }

    fn complete(
        &self,
        token: &Token,
        retention: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut invocation = self.complete.key(self.key(&token.key));
        invocation.arg(held(token)).arg(millis(retention));
        let mut connection = self.connection.clone();
        async move {
            let done: i64 = invocation
                .invoke_async(&mut connection)
                .await
                .map_err(backend)?;
            if done == 1 {
                Ok(())
            } else {
                Err(StoreError::StaleToken)
            }
        }
    }

    fn release(&self, token: &Token) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut invocation = self.release.key(self.key(&token.key));
        invocation.arg(held(token));
        let mut connection = self.connection.clone();
        async move {
            let done: i64 = invocation
                .invoke_async(&mut connection)
                .await
                .map_err(backend)?;
            if done == 1 {
                Ok(())
            } else {
                Err(StoreError::StaleToken)
            }
        }
    }
}
