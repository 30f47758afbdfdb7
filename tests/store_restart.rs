//! The shared stores recover by themselves when their server restarts: the
//! test restarts the real Redis and PostgreSQL servers (the scripts
//! `scripts/services.sh` writes and exports as `MAILHOOK_TEST_*_RESTART`)
//! while a store is in use, and shows the same store instance answering
//! again within [`RECOVERY`], with no claim lost.
//!
//! A separate test binary from `store_contract.rs`, so the restarts never
//! cut the contract tests' connections.

// Tests panic on setup failures by design.
#![cfg(all(feature = "redis", feature = "postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mailhook::idempotency::{Claim, IdempotencyStore, PostgresStore, RedisStore};
use time::OffsetDateTime;

/// The stated bound: a store answers again within this time of its server
/// coming back.
const RECOVERY: Duration = Duration::from_secs(15);

fn key(name: &str) -> String {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh, which starts the servers")
    })
}

/// Runs a restart script to its end: the server is stopped and started.
async fn restart(script_var: &str) {
    let script = env(script_var);
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg(&script)
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(status.success(), "{script_var} failed: {status}");
}

/// Claims before the restart, restarts, and checks that the store answers
/// again within `RECOVERY` and remembers both claims.
async fn survives_a_restart<S: IdempotencyStore>(store: S, restart_var: &str) {
    let done = key("restart-done");
    let held = key("restart-held");
    let Claim::Acquired(token) = store.begin(&done, Duration::from_secs(60)).await.unwrap() else {
        panic!("not acquired")
    };
    store
        .complete(&token, Duration::from_secs(3600))
        .await
        .unwrap();
    let Claim::Acquired(held_token) = store.begin(&held, Duration::from_secs(600)).await.unwrap()
    else {
        panic!("not acquired")
    };

    restart(restart_var).await;

    let started = Instant::now();
    let mut failures = 0;
    let answer = loop {
        match store.begin(&done, Duration::from_secs(60)).await {
            Ok(answer) => break answer,
            Err(e) => {
                // Transient: the pipeline answers 503 and the provider retries.
                assert_eq!(e.code(), "store_unavailable");
                failures += 1;
                assert!(
                    started.elapsed() < RECOVERY,
                    "{restart_var}: still failing after {:?}: {e}",
                    started.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    eprintln!(
        "{restart_var}: answering again after {:?} ({failures} failed calls)",
        started.elapsed()
    );
    // No claim lost: the completed key is still completed, the held one
    // still held, and its token still completes it.
    assert_eq!(answer, Claim::Completed);
    assert_eq!(
        store.begin(&held, Duration::from_secs(60)).await.unwrap(),
        Claim::InProgress
    );
    store
        .complete(&held_token, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(
        store.begin(&held, Duration::from_secs(60)).await.unwrap(),
        Claim::Completed
    );
    let fresh = key("restart-fresh");
    assert!(matches!(
        store.begin(&fresh, Duration::from_secs(60)).await.unwrap(),
        Claim::Acquired(_)
    ));
}

#[tokio::test]
async fn redis_store_recovers_after_a_server_restart() {
    let client = redis::Client::open(env("MAILHOOK_TEST_REDIS_URL")).unwrap();
    let store = RedisStore::connect(&client).await.unwrap();
    survives_a_restart(store, "MAILHOOK_TEST_REDIS_RESTART").await;
}

#[tokio::test]
async fn postgres_store_recovers_after_a_server_restart() {
    let store = PostgresStore::connect(&env("MAILHOOK_TEST_POSTGRES_URL")).unwrap();
    store.create_table().await.unwrap();
    survives_a_restart(store, "MAILHOOK_TEST_POSTGRES_RESTART").await;
}
