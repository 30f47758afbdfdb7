//! A Redis store (feature `redis`), shared by every replica.

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Claim, IdempotencyStore, LEASE_GRACE, StoreError, Token, capped};
use crate::encoding;

/// An [`IdempotencyStore`] on Redis (7.0 or later): one round trip per
/// operation, each a small script. `begin` stores
/// `held:<nonce>:<lease deadline>` (kept for the lease plus
/// [`LEASE_GRACE`](super::LEASE_GRACE)) unless a live claim or a completion
/// is there; `complete` and `release` act only while the token's nonce is
/// the stored one, so a stale token never touches a newer claim.
///
/// Keys are stored as `<prefix><idempotency key>` (default prefix
/// `email-webhooks:idem:`). Run Redis with `maxmemory-policy noeviction`:
/// an evicting policy forgets completions early, so a redelivered event
/// is handled again, and a spent Mailgun token can outlive the record of
/// the body it came with, refusing Mailgun's retries of it.
///
/// **Reconnects by itself:** the connection is a
/// [`redis::aio::ConnectionManager`], which reconnects when the server
/// restarts or the network fails. A call that meets the failure returns
/// [`StoreError::Backend`] (answer 503: the provider retries), and later
/// calls use the new connection. Each command and each connection attempt
/// times out after 5 seconds, so a dead server fails fast instead of
/// holding webhook requests. Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: String,
    begin: redis::Script,
    begin_many: redis::Script,
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

/// The prefix of the value a claim by `token` stores:
/// `held:<nonce>:<lease deadline, Unix ms>`.
fn held(token: &Token) -> String {
    format!("held:{}:", encoding::hex(&token.nonce))
}

impl RedisStore {
    /// Runs `script` (completing or releasing a claim) on `token`'s key,
    /// with its held prefix and `extra`: the script answers 1 where the
    /// token still held the claim, else the claim was no longer its own.
    fn settle<'a>(
        &'a self,
        script: &'a redis::Script,
        token: &Token,
        extra: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'a {
        let mut invocation = script.key(self.key(&token.key));
        invocation.arg(held(token));
        if let Some(extra) = extra {
            invocation.arg(extra);
        }
        async move {
            let done: u64 = invoke(&invocation, &self.connection)
                .await
                .map_err(backend)?;
            super::settled(done)
        }
    }

    /// Connects with `client` (for example `redis::Client::open("redis://127.0.0.1/")`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the first connection fails.
    pub async fn connect(client: &redis::Client) -> Result<Self, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(std::time::Duration::from_secs(5))
            .set_response_timeout(std::time::Duration::from_secs(5))
            .set_number_of_retries(3)
            .set_max_delay(1_000);
        let connection = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(backend)?;
        Ok(Self {
            connection,
            prefix: "email-webhooks:idem:".to_owned(),
            // A claim stores `held:<nonce>:<deadline ms>` and lives in
            // Redis for its lease plus the grace period, so that after the
            // lease its token can still complete it (or release it) while
            // nobody took it over; `begin` takes over a claim whose deadline
            // passed, by the server's clock.
            begin: redis::Script::new(
                "local v = redis.call('GET', KEYS[1]) \
                 if v == 'done' then return 'done' end \
                 local t = redis.call('TIME') \
                 local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) \
                 if v and string.sub(v, 1, string.len(ARGV[1])) ~= ARGV[1] then \
                   local deadline = tonumber(string.match(v, ':(%d+)$')) \
                   if deadline and deadline > now then return 'held' end \
                 end \
                 local lease = tonumber(ARGV[2]) \
                 redis.call('SET', KEYS[1], ARGV[1] .. string.format('%d', now + lease), \
                            'PX', lease + tonumber(ARGV[3])) \
                 return 'acquired'",
            ),
            // The same as `begin`, for every key of a delivery in one
            // script: one round trip. ARGV: lease, grace, then each key's
            // `held:<nonce>:` prefix.
            begin_many: redis::Script::new(
                "local t = redis.call('TIME') \
                 local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) \
                 local lease = tonumber(ARGV[1]) \
                 local grace = tonumber(ARGV[2]) \
                 local out = {} \
                 for i, key in ipairs(KEYS) do \
                   local v = redis.call('GET', key) \
                   if v == 'done' then out[i] = 'done' else \
                     local mine = v and string.sub(v, 1, string.len(ARGV[i + 2])) == ARGV[i + 2] \
                     local deadline = v and not mine and tonumber(string.match(v, ':(%d+)$')) \
                     if deadline and deadline > now then out[i] = 'held' else \
                       redis.call('SET', key, ARGV[i + 2] .. string.format('%d', now + lease), \
                                  'PX', lease + grace) \
                       out[i] = 'acquired' \
                     end \
                   end \
                 end \
                 return out",
            ),
            complete: redis::Script::new(
                "local v = redis.call('GET', KEYS[1]) \
                 if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then \
                   redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2]) return 1 \
                 end return 0",
            ),
            release: redis::Script::new(
                "local v = redis.call('GET', KEYS[1]) \
                 if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then \
                   redis.call('DEL', KEYS[1]) return 1 \
                 end return 0",
            ),
        })
    }

    /// Sets the key prefix (default `email-webhooks:idem:`).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// Runs a script, and once more if the connection had dropped (the server
/// restarted since the last call: the manager reconnects, and the retry runs
/// on the new connection). The first request after a restart succeeds
/// instead of answering 503. Never after a timeout: the first run may still
/// be queued on a live connection and run after all (a claim would then
/// hand entries out twice and count their attempts twice). No script of
/// this crate does harm run twice: a claim retried with its own token is
/// acquired again, a settlement is fenced (one whose first run did land
/// answers stale: the delivery is answered 5xx, and the provider's
/// redelivery is acknowledged as a duplicate).
pub(crate) async fn invoke<T: redis::FromRedisValue>(
    invocation: &redis::ScriptInvocation<'_>,
    connection: &ConnectionManager,
) -> Result<T, redis::RedisError> {
    let mut connection = connection.clone();
    match invocation.invoke_async(&mut connection).await {
        Err(error)
            if (error.is_connection_dropped() || error.is_io_error()) && !error.is_timeout() =>
        {
            invocation.invoke_async(&mut connection).await
        }
        answered => answered,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(capped(d).as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl IdempotencyStore for RedisStore {
    fn begin(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        let token = Token::new(key);
        let connection = self.connection.clone();
        let prefix = self.prefix.clone();
        let begin = self.begin.clone();
        async move {
            let token = token?;
            let mut invocation = begin.key(format!("{prefix}{}", token.key));
            invocation
                .arg(held(&token))
                .arg(millis(lease))
                .arg(millis(LEASE_GRACE));
            let answer: String = invoke(&invocation, &connection).await.map_err(backend)?;
            Ok(match answer.as_str() {
                "acquired" => Claim::Acquired(token),
                "done" => Claim::Completed,
                _ => Claim::InProgress,
            })
        }
    }

    fn complete(
        &self,
        token: &Token,
        retention: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.settle(&self.complete, token, Some(millis(retention)))
    }

    /// One script for the whole delivery: one round trip.
    async fn begin_many(&self, keys: &[String], lease: Duration) -> Result<Vec<Claim>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let tokens = Token::many(keys)?;
        let mut invocation = self.begin_many.prepare_invoke();
        for token in &tokens {
            invocation.key(self.key(&token.key));
        }
        invocation.arg(millis(lease)).arg(millis(LEASE_GRACE));
        for token in &tokens {
            invocation.arg(held(token));
        }
        let answers: Vec<String> = invoke(&invocation, &self.connection)
            .await
            .map_err(backend)?;
        if answers.len() != tokens.len() {
            return Err(StoreError::Backend(
                "the claim script answered the wrong number of keys".into(),
            ));
        }
        Ok(tokens
            .into_iter()
            .zip(answers)
            .map(|(token, answer)| match answer.as_str() {
                "acquired" => Claim::Acquired(token),
                "done" => Claim::Completed,
                _ => Claim::InProgress,
            })
            .collect())
    }

    fn release(&self, token: &Token) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.settle(&self.release, token, None)
    }
}
