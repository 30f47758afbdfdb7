//! Queues under test on every engine: the in-memory queue, SQLite in a
//! temporary file, and PostgreSQL and Redis on the servers
//! scripts/services.sh starts (the tests fail, not skip, when
//! `EMAIL_WEBHOOKS_TEST_POSTGRES_URL` or `EMAIL_WEBHOOKS_TEST_REDIS_URL` is
//! missing). Each subject gets a queue of its own: a fresh PostgreSQL
//! database, a fresh Redis key prefix.

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use email_webhooks::queue::{MemoryQueue, PostgresQueue, RedisQueue, SqliteQueue};

/// A name no other test (or earlier run on the same server) uses.
pub(crate) fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}_{}_{nanos}", std::process::id())
}

pub(crate) fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh, which starts the servers")
    })
}

pub(crate) fn memory() -> MemoryQueue {
    MemoryQueue::new()
}

/// A queue in a new SQLite file under the system's temporary directory.
pub(crate) fn sqlite() -> (SqliteQueue, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(unique("email-webhooks-queue"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("queue.db");
    (SqliteQueue::open(&path).unwrap(), path)
}

/// A new database on the PostgreSQL server named by `url_var`; returns its
/// connection string.
pub(crate) async fn postgres_database(url_var: &str) -> String {
    let url = env(url_var);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let name = unique("q");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("{url} dbname={name}")
}

pub(crate) async fn postgres_at(config: &str) -> PostgresQueue {
    let queue = PostgresQueue::connect(config).unwrap();
    queue.create_table().await.unwrap();
    queue
}

pub(crate) async fn postgres() -> PostgresQueue {
    postgres_at(&postgres_database("EMAIL_WEBHOOKS_TEST_POSTGRES_URL").await).await
}

pub(crate) async fn redis_at(url_var: &str, prefix: &str) -> RedisQueue {
    let client = redis::Client::open(env(url_var)).unwrap();
    RedisQueue::connect(&client)
        .await
        .unwrap()
        .with_prefix(prefix)
}

pub(crate) async fn redis() -> RedisQueue {
    redis_at("EMAIL_WEBHOOKS_TEST_REDIS_URL", &unique("q")).await
}
