//! The in-memory idempotency store at capacity: distinct keys claimed and
//! completed one after another, as a busy receiver does once the store is
//! full (each new key evicts the oldest completed one). Reports the rate
//! and the longest single call, which shows any O(n) pause under the lock
//! (a hash table rehashing in place, say).
//!
//! ```sh
//! cargo bench --bench store
//! # BENCH_KEYS=2000000 (calls), BENCH_CAPACITY=100000
//! ```

#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

use std::time::{Duration, Instant};

use email_webhooks::idempotency::{Claim, IdempotencyStore, MemoryStore};

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let number = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let calls = number("BENCH_KEYS", if benching { 2_000_000 } else { 20_000 });
    let capacity = number("BENCH_CAPACITY", if benching { 100_000 } else { 2_000 });
    let store = MemoryStore::new().with_capacity(capacity);
    let lease = Duration::from_secs(60);
    let retention = Duration::from_secs(7 * 24 * 3600);
    let keys: Vec<String> = (0..calls).map(|i| format!("resend:msg_{i:016x}")).collect();
    let mut longest = Duration::ZERO;
    // The longest call once the store is full (its steady state).
    let mut longest_full = Duration::ZERO;
    let started = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        let call = Instant::now();
        let Claim::Acquired(token) = futures_executor(store.begin(key, lease)).unwrap() else {
            panic!("{key} not acquired");
        };
        futures_executor(store.complete(&token, retention)).unwrap();
        let took = call.elapsed();
        longest = longest.max(took);
        if i >= capacity {
            longest_full = longest_full.max(took);
        }
    }
    let elapsed = started.elapsed();
    println!(
        "memory store at capacity {capacity}: {calls} distinct keys claimed and completed, {:.0} keys/s, {:.2} µs per key, longest key {:.1} µs ({:.1} µs once full); {} evicted",
        calls as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / calls as f64,
        longest.as_secs_f64() * 1e6,
        longest_full.as_secs_f64() * 1e6,
        store.evicted()
    );
}

/// The store's futures are ready at once: poll once.
fn futures_executor<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = std::task::Waker::noop();
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the memory store's futures are ready at once"),
    }
}
