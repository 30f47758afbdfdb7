//! The idempotency-store contract, written once and run against every
//! store. (Only the in-memory store exists so far; shared stores join the
//! same suite.)

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use mailhook::Clock;
use mailhook::idempotency::{Claim, IdempotencyStore, MemoryStore, StoreError};
use time::OffsetDateTime;

/// Runs a future that completes without waiting (the memory store's do).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the store future waited"),
    }
}

/// A clock the tests move by hand.
#[derive(Debug)]
struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// A store under test, with a way to let time pass.
struct Subject<S> {
    store: S,
    /// A second instance on the same backend (a second replica).
    replica: S,
    advance: Box<dyn Fn(Duration)>,
}

fn memory() -> Subject<MemoryStore> {
    let clock = Arc::new(ManualClock(Mutex::new(
        OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )));
    let store = MemoryStore::new().with_clock(clock.clone());
    Subject {
        replica: store.clone(),
        store,
        advance: Box::new(move |d| clock.advance(d)),
    }
}

const LEASE: Duration = Duration::from_secs(30);
const RETENTION: Duration = Duration::from_secs(3600);

fn acquired(claim: Claim) -> mailhook::idempotency::Token {
    match claim {
        Claim::Acquired(token) => token,
        other => panic!("expected Acquired, got {other:?}"),
    }
}

macro_rules! contract {
    ($($name:ident => $subject:expr,)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn exactly_one_of_64_concurrent_begins_acquires() {
                let subject = $subject;
                let store = Arc::new(subject.store);
                let barrier = Arc::new(Barrier::new(64));
                let handles: Vec<_> = (0..64)
                    .map(|_| {
                        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
                        thread::spawn(move || {
                            barrier.wait();
                            block_on(store.begin("evt-concurrent", LEASE)).unwrap()
                        })
                    })
                    .collect();
                let claims: Vec<Claim> = handles.into_iter().map(|h| h.join().unwrap()).collect();
                let acquired = claims.iter().filter(|c| matches!(c, Claim::Acquired(_))).count();
                let in_progress = claims.iter().filter(|c| matches!(c, Claim::InProgress)).count();
                assert_eq!((acquired, in_progress), (1, 63));
            }

            #[test]
            fn a_held_key_is_in_progress_until_the_lease_expires() {
                let s = $subject;
                let _token = acquired(block_on(s.store.begin("evt-lease", LEASE)).unwrap());
                (s.advance)(LEASE - Duration::from_secs(1));
                assert_eq!(block_on(s.store.begin("evt-lease", LEASE)).unwrap(), Claim::InProgress);
                (s.advance)(Duration::from_secs(2));
                acquired(block_on(s.store.begin("evt-lease", LEASE)).unwrap());
            }

            #[test]
            fn release_lets_the_retry_acquire() {
                let s = $subject;
                let token = acquired(block_on(s.store.begin("evt-release", LEASE)).unwrap());
                block_on(s.store.release(&token)).unwrap();
                acquired(block_on(s.store.begin("evt-release", LEASE)).unwrap());
            }

            #[test]
            fn complete_answers_completed_until_the_retention_ends() {
                let s = $subject;
                let token = acquired(block_on(s.store.begin("evt-done", LEASE)).unwrap());
                block_on(s.store.complete(&token, RETENTION)).unwrap();
                assert_eq!(block_on(s.store.begin("evt-done", LEASE)).unwrap(), Claim::Completed);
                (s.advance)(RETENTION - Duration::from_secs(1));
                assert_eq!(block_on(s.store.begin("evt-done", LEASE)).unwrap(), Claim::Completed);
                (s.advance)(Duration::from_secs(2));
                acquired(block_on(s.store.begin("evt-done", LEASE)).unwrap());
            }

            #[test]
            fn a_stale_token_cannot_complete_or_release_the_new_claim() {
                let s = $subject;
                let old = acquired(block_on(s.store.begin("evt-stale", LEASE)).unwrap());
                (s.advance)(LEASE + Duration::from_secs(1));
                let new = acquired(block_on(s.store.begin("evt-stale", LEASE)).unwrap());
                assert!(matches!(block_on(s.store.complete(&old, RETENTION)), Err(StoreError::StaleToken)));
                assert!(matches!(block_on(s.store.release(&old)), Err(StoreError::StaleToken)));
                assert_eq!(block_on(s.store.begin("evt-stale", LEASE)).unwrap(), Claim::InProgress);
                block_on(s.store.complete(&new, RETENTION)).unwrap();
                assert_eq!(block_on(s.store.begin("evt-stale", LEASE)).unwrap(), Claim::Completed);
            }

            #[test]
            fn a_token_is_spent_once_used() {
                let s = $subject;
                let token = acquired(block_on(s.store.begin("evt-once", LEASE)).unwrap());
                block_on(s.store.release(&token)).unwrap();
                assert_eq!(block_on(s.store.release(&token)).unwrap_err().code(), "stale_token");
                assert_eq!(block_on(s.store.complete(&token, RETENTION)).unwrap_err().code(), "stale_token");
            }

            #[test]
            fn replicas_see_each_others_claims() {
                let s = $subject;
                let token = acquired(block_on(s.store.begin("evt-replicas", LEASE)).unwrap());
                assert_eq!(block_on(s.replica.begin("evt-replicas", LEASE)).unwrap(), Claim::InProgress);
                block_on(s.store.complete(&token, RETENTION)).unwrap();
                assert_eq!(block_on(s.replica.begin("evt-replicas", LEASE)).unwrap(), Claim::Completed);
            }

            #[test]
            fn keys_are_independent() {
                let s = $subject;
                acquired(block_on(s.store.begin("evt-a", LEASE)).unwrap());
                acquired(block_on(s.store.begin("evt-b", LEASE)).unwrap());
            }
        }
    )*};
}

contract! {
    memory_store => memory(),
}

#[test]
fn memory_store_is_bounded_and_sweeps_expired_entries() {
    let clock = Arc::new(ManualClock(Mutex::new(OffsetDateTime::UNIX_EPOCH)));
    let store = MemoryStore::new()
        .with_capacity(2)
        .with_clock(clock.clone());
    acquired(block_on(store.begin("a", LEASE)).unwrap());
    acquired(block_on(store.begin("b", LEASE)).unwrap());
    let err = block_on(store.begin("c", LEASE)).unwrap_err();
    assert_eq!(err.code(), "store_full");
    clock.advance(LEASE + Duration::from_secs(1));
    acquired(block_on(store.begin("c", LEASE)).unwrap());
    assert_eq!(store.len(), 1);
}

#[test]
fn tokens_do_not_print_their_nonce() {
    let store = MemoryStore::new();
    let token = acquired(block_on(store.begin("k", LEASE)).unwrap());
    let text = format!("{token:?}");
    assert!(text.contains("\"k\"") && !text.contains("nonce"), "{text}");
}
