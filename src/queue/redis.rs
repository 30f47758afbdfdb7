//! The queue on Redis Streams (feature `redis`).

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{ClaimedJob, DeadLetter, NewJob, Queue, QueueCounts, Settlement, StoreError, batch};

// Keys, under the prefix P:
//   P stream        the stream of ready jobs (entries carry the job key `k`),
//                   read by the consumer group `workers`
//   P delayed       sorted set: jobs waiting out a retry delay (score: due ms)
//   P dead          sorted set: dead letters (score: when buried)
//   P done          sorted set: handled keys (score: when), for counts
//   P leases        sorted set: claimed entries (score: when the lease ends)
//   P job:<key>     hash: p (payload), a (attempts), e (last error), t (enqueued ms)
//   P key:<key>     the key's marker: "queued", "dead" or "done:<entry id>:<fence>"
//                   (the last expires after the retention): what makes an
//                   enqueue idempotent
// Times are the server's (TIME), so replicas' clocks do not matter. The
// scripts name per-job keys from the prefix: one Redis server (or a
// primary with replicas), not Redis Cluster.

const PRELUDE: &str = "
local P = ARGV[1]
local stream, delayed, dead, done, leases = P..'stream', P..'delayed', P..'dead', P..'done', P..'leases'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Is entry `id` still pending for `consumer` with delivery count `fence`?
local function holds(id, consumer, fence)
  local p = redis.call('XPENDING', stream, 'workers', id, id, 1)
  return #p == 1 and p[1][2] == consumer and tonumber(p[1][4]) == tonumber(fence)
end
local function drop(id)
  redis.call('ZREM', leases, id)
  redis.call('XACK', stream, 'workers', id)
  redis.call('XDEL', stream, id)
end
";

const ENQUEUE: &str = "
local out = {}
local n = tonumber(ARGV[2])
for i = 1, n do
  local k, p = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  if redis.call('EXISTS', P..'key:'..k) == 1 then
    out[i] = 0
  else
    redis.call('SET', P..'key:'..k, 'queued')
    redis.call('HSET', P..'job:'..k, 'p', p, 'a', 0, 'e', '', 't', now)
    redis.call('XADD', stream, '*', 'k', k)
    out[i] = 1
  end
end
return out
";

// ARGV: prefix, consumer, lease ms, max, retention ms, idle bound ms.
const CLAIM: &str = "
local consumer, lease, max, retention = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local idle_bound = tonumber(ARGV[6])
-- The group, made again if the server lost it (a restart without persistence).
redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
-- Consumers of stopped processes: idle past the bound and owning nothing.
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', stream, 'workers')) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['name'] ~= consumer and tonumber(info['pending']) == 0
     and tonumber(info['idle']) > idle_bound then
    redis.call('XGROUP', 'DELCONSUMER', stream, 'workers', info['name'])
  end
end
redis.call('ZREMRANGEBYSCORE', done, '-inf', now - retention)
for _, k in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', delayed, k)
  redis.call('XADD', stream, '*', 'k', k)
end
local entries = {}
local lapsed = {}
-- Entries whose lease ended (a crashed or stalled consumer's) first,
-- taken over with XCLAIM (which counts one more delivery: the new fence);
-- each lapsed claim counts as an attempt.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, max)) do
  local taken = redis.call('XCLAIM', stream, 'workers', consumer, 0, id)
  if taken[1] and taken[1] ~= false and taken[1][2] ~= false then
    lapsed[id] = true
    table.insert(entries, taken[1])
  else
    redis.call('ZREM', leases, id)
  end
end
if #entries < max then
  local fresh = redis.call('XREADGROUP', 'GROUP', 'workers', consumer,
    'COUNT', max - #entries, 'STREAMS', stream, '>')
  if fresh and fresh[1] then
    for _, e in ipairs(fresh[1][2]) do table.insert(entries, e) end
  end
end
local out = {}
for _, e in ipairs(entries) do
  local id, k = e[1], e[2][2]
  local job = redis.call('HMGET', P..'job:'..k, 'p', 'a', 't')
  if job[1] == false then
    drop(id)
  else
    if lapsed[id] then
      job[2] = redis.call('HINCRBY', P..'job:'..k, 'a', 1)
    end
    local p = redis.call('XPENDING', stream, 'workers', id, id, 1)
    redis.call('ZADD', leases, now + lease, id)
    table.insert(out, {id, k, job[1], job[2], p[1][4], job[3], lapsed[id] and 1 or 0})
  end
end
return out
";

// ARGV: prefix, consumer, id, key, fence, lease ms.
const RENEW: &str = "
local consumer, id, fence, lease = ARGV[2], ARGV[3], ARGV[5], tonumber(ARGV[6])
if not holds(id, consumer, fence) then return 0 end
redis.call('ZADD', leases, 'XX', now + lease, id)
return 1
";

// ARGV: prefix, consumer, id, key, fence, retention ms.
const COMPLETE: &str = "
local consumer, id, k, fence, retention = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
if not holds(id, consumer, fence) then
  if redis.call('GET', P..'key:'..k) == 'done:'..id..':'..fence then return 1 end
  return 0
end
drop(id)
redis.call('DEL', P..'job:'..k)
redis.call('SET', P..'key:'..k, 'done:'..id..':'..fence, 'PX', retention)
redis.call('ZADD', done, now, k)
return 1
";

// ARGV: prefix, consumer, id, key, fence, delay ms, error.
const RETRY: &str = "
local consumer, id, k, fence, delay, err = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
if not holds(id, consumer, fence) then return 0 end
drop(id)
redis.call('HINCRBY', P..'job:'..k, 'a', 1)
redis.call('HSET', P..'job:'..k, 'e', err)
redis.call('ZADD', delayed, now + delay, k)
return 1
";

// ARGV: prefix, consumer, id, key, fence.
const RELEASE: &str = "
local consumer, id, k, fence = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if not holds(id, consumer, fence) then return 0 end
drop(id)
redis.call('XADD', stream, '*', 'k', k)
return 1
";

// ARGV: prefix, consumer, id, key, fence, error.
const BURY: &str = "
local consumer, id, k, fence, err = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if not holds(id, consumer, fence) then return 0 end
drop(id)
redis.call('HINCRBY', P..'job:'..k, 'a', 1)
redis.call('HSET', P..'job:'..k, 'e', err)
redis.call('SET', P..'key:'..k, 'dead')
redis.call('ZADD', dead, now, k)
return 1
";

// ARGV: prefix, limit.
const DEAD_LETTERS: &str = "
local out = {}
for _, k in ipairs(redis.call('ZRANGE', dead, 0, tonumber(ARGV[2]) - 1)) do
  local job = redis.call('HMGET', P..'job:'..k, 'p', 'a', 'e')
  table.insert(out, {k, job[1] or '', job[2] or '0', job[3] or ''})
end
return out
";

// ARGV: prefix, all (1/0), keys...
const REQUEUE: &str = "
local keys = {}
if ARGV[2] == '1' then
  keys = redis.call('ZRANGE', dead, 0, -1)
else
  for i = 3, #ARGV do keys[#keys + 1] = ARGV[i] end
end
local moved = 0
for _, k in ipairs(keys) do
  if redis.call('ZREM', dead, k) == 1 then
    redis.call('HSET', P..'job:'..k, 'a', 0)
    redis.call('SET', P..'key:'..k, 'queued')
    redis.call('XADD', stream, '*', 'k', k)
    moved = moved + 1
  end
end
return moved
";

// The oldest ready job: the stream's first entry not yet delivered to the
// group (its id's time is when it was added: enqueued, or due again), or a
// delayed job already due; -1 for none.
const COUNTS: &str = "
redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
local pending = redis.call('XPENDING', stream, 'workers')[1]
local ready = redis.call('XLEN', stream) - pending + redis.call('ZCARD', delayed)
local oldest = -1
local last = '0-0'
for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == 'workers' then last = info['last-delivered-id'] end
end
local next = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', 1)
if next[1] then oldest = tonumber(string.match(next[1][1], '^(%d+)')) end
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
if due[2] and (oldest < 0 or tonumber(due[2]) < oldest) then oldest = tonumber(due[2]) end
return {ready, pending, redis.call('ZCARD', done), redis.call('ZCARD', dead), oldest}
";

/// A durable queue on a Redis Stream (feature `redis`), shared by every
/// replica: a consumer group hands entries out (`XREADGROUP`), `XCLAIM`
/// takes over those a crashed consumer left past their lease (each claim's
/// own lease, kept beside the stream), settling acknowledges (`XACK`). Each call is one Lua script: atomic, one round trip (an
/// enqueue of a whole delivery included).
///
/// As durable as the server is configured: run Redis with `appendonly yes`
/// (and `appendfsync always` to survive a power loss, not just a crash;
/// the default `everysec` can lose the last second) and
/// `maxmemory-policy noeviction` (an evicting policy can drop queued
/// jobs), or an enqueue answered 2xx can be lost with the server. One
/// server (or a primary with replicas), not Redis Cluster. Each
/// `RedisQueue` is a consumer of its own in the group, named after its
/// host and process (`XPENDING` and `XINFO CONSUMERS` say which replica
/// holds an entry; see [`with_consumer_name`](Self::with_consumer_name));
/// a consumer idle for 10 minutes and owning no entry (a stopped process's)
/// is removed from the group by the next claim ([`with_idle_consumer_bound`](Self::with_idle_consumer_bound)).
#[derive(Clone)]
pub struct RedisQueue {
    connection: ConnectionManager,
    prefix: String,
    consumer: String,
    retention: Duration,
    idle_consumers: Duration,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.prefix)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

fn backend(e: redis::RedisError) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(crate::idempotency::capped(d).as_millis()).unwrap_or(u64::MAX)
}

/// `name` as a consumer name: at most 100 characters, each outside
/// `A-Z a-z 0-9 . _ - :` replaced by `_`.
fn consumer_name(name: &str) -> String {
    name.chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// This host's name: `HOSTNAME` (set in containers), else the kernel's,
/// else `host`.
fn host_name() -> String {
    let name = std::env::var("HOSTNAME")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    let name = consumer_name(name.trim());
    if name.is_empty() {
        "host".to_owned()
    } else {
        name.chars().take(60).collect()
    }
}

fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{PRELUDE}{body}"))
}

fn settled(answer: i64) -> Result<(), StoreError> {
    if answer == 1 {
        Ok(())
    } else {
        Err(StoreError::StaleToken)
    }
}

impl RedisQueue {
    /// Connects through a [`ConnectionManager`] (it reconnects after a
    /// server restart), with 5-second timeouts. The consumer name is
    /// `{host}-{process id}-{random}` per `RedisQueue` (clones share it),
    /// the host from `HOSTNAME` or the system's host name.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the server cannot be reached.
    pub async fn connect(client: &redis::Client) -> Result<Self, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(Duration::from_secs(5))
            .set_number_of_retries(3)
            .set_max_delay(1_000);
        let connection = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(backend)?;
        let nonce = crate::idempotency::Token::new("consumer")?;
        Ok(Self {
            connection,
            prefix: "email-webhooks:queue:".to_owned(),
            consumer: format!(
                "{}-{}-{}",
                host_name(),
                std::process::id(),
                &crate::encoding::hex(nonce.nonce())[..8]
            ),
            retention: super::DEFAULT_RETENTION,
            idle_consumers: Duration::from_secs(600),
        })
    }

    /// Names this queue's consumer in the group (say, your pod's name):
    /// kept to 100 characters of `A-Z a-z 0-9 . _ - :`, the others
    /// replaced by `_`. Two processes must not share a name (each would
    /// settle the other's entries). The default names the host and the
    /// process.
    #[must_use]
    pub fn with_consumer_name(mut self, name: &str) -> Self {
        self.consumer = consumer_name(name);
        self
    }

    /// The consumer's name in the group.
    #[must_use]
    pub fn consumer_name(&self) -> &str {
        &self.consumer
    }

    /// Consumers idle for longer than `bound` that own no entry (those of
    /// processes that stopped) are removed from the group by the next
    /// claim (10 minutes by default). Keep it well above your workers'
    /// poll interval.
    #[must_use]
    pub fn with_idle_consumer_bound(mut self, bound: Duration) -> Self {
        self.idle_consumers = bound;
        self
    }

    /// Sets the key prefix (default `email-webhooks:queue:`).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Handled keys are remembered (redeliveries are duplicates) for
    /// `retention` ([`DEFAULT_RETENTION`](super::DEFAULT_RETENTION) by
    /// default).
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        body: &str,
        args: impl FnOnce(&mut redis::ScriptInvocation<'_>),
    ) -> Result<T, StoreError> {
        let script = script(body);
        let mut invocation = script.prepare_invoke();
        invocation.arg(&self.prefix);
        args(&mut invocation);
        crate::idempotency::redis::invoke(&invocation, &self.connection)
            .await
            .map_err(backend)
    }

    /// Runs script `body` over (consumer, entry, key, fence, `extra`…):
    /// settled, or the claim no longer holds the job.
    async fn update(
        &self,
        body: &str,
        job: &ClaimedJob,
        extra: impl FnOnce(&mut redis::ScriptInvocation<'_>),
    ) -> Result<(), StoreError> {
        let answer: i64 = self
            .run(body, |i| {
                i.arg(&self.consumer)
                    .arg(&job.id)
                    .arg(&job.key)
                    .arg(job.fence);
                extra(i);
            })
            .await?;
        settled(answer)
    }
}

impl Queue for RedisQueue {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<bool>, StoreError> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let answers: Vec<i64> = self
            .run(ENQUEUE, |i| {
                i.arg(jobs.len());
                for job in jobs {
                    i.arg(&job.key).arg(&job.payload);
                }
            })
            .await?;
        if answers.len() != jobs.len() {
            return Err(StoreError::Backend(
                "the enqueue script answered the wrong number of jobs".into(),
            ));
        }
        Ok(answers.into_iter().map(|a| a == 1).collect())
    }

    async fn claim(&self, max: usize, lease: Duration) -> Result<Vec<ClaimedJob>, StoreError> {
        type Row = (String, String, String, u32, u64, i64, i64);
        let rows: Vec<Row> = self
            .run(CLAIM, |i| {
                i.arg(&self.consumer)
                    .arg(millis(lease).max(1))
                    .arg(batch(max))
                    .arg(millis(self.retention).max(1))
                    .arg(millis(self.idle_consumers).max(1));
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, key, payload, attempts, fence, enqueued, lapsed)| ClaimedJob {
                    id,
                    key,
                    payload,
                    attempts,
                    fence,
                    enqueued_at: super::from_millis(enqueued),
                    taken_over: lapsed == 1,
                },
            )
            .collect())
    }

    async fn renew(&self, job: &ClaimedJob, lease: Duration) -> Result<(), StoreError> {
        let lease = millis(lease).max(1);
        self.update(RENEW, job, move |i| {
            i.arg(lease);
        })
        .await
    }

    async fn settle(&self, job: &ClaimedJob, settlement: Settlement<'_>) -> Result<(), StoreError> {
        match settlement {
            Settlement::Complete => {
                let retention = millis(self.retention).max(1);
                self.update(COMPLETE, job, move |i| {
                    i.arg(retention);
                })
                .await
            }
            Settlement::Retry { delay, error } => {
                self.update(RETRY, job, move |i| {
                    i.arg(millis(delay)).arg(error);
                })
                .await
            }
            Settlement::Release => self.update(RELEASE, job, |_| {}).await,
            Settlement::Bury { error } => {
                self.update(BURY, job, move |i| {
                    i.arg(error);
                })
                .await
            }
        }
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let rows: Vec<(String, String, u32, String)> = self
            .run(DEAD_LETTERS, |i| {
                i.arg(batch(limit));
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|(key, payload, attempts, error)| DeadLetter {
                key,
                payload,
                attempts,
                error,
            })
            .collect())
    }

    async fn requeue(&self, keys: Option<&[String]>) -> Result<usize, StoreError> {
        self.run(REQUEUE, |i| match keys {
            None => {
                i.arg(1);
            }
            Some(keys) => {
                i.arg(0);
                for key in keys {
                    i.arg(key);
                }
            }
        })
        .await
    }

    async fn counts(&self) -> Result<QueueCounts, StoreError> {
        let (ready, running, done, dead, oldest): (u64, u64, u64, u64, i64) =
            self.run(COUNTS, |_| {}).await?;
        Ok(QueueCounts {
            ready,
            running,
            done,
            dead,
            oldest_ready: (oldest >= 0).then(|| super::from_millis(oldest)),
        })
    }
}
