//! Verifying a request allocates nothing: header parsing on borrowed
//! strings, the body streamed into the MAC, signatures decoded into stack
//! buffers. A counting global allocator proves it for each HMAC scheme, with
//! headers both in an `http::HeaderMap` and in a slice of pairs.

// Tests and benches panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The only unsafe code in the repository: a `GlobalAlloc` must be an unsafe impl.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mailhook::scheme::github::GitHubVerifier;
use mailhook::scheme::standard::{StandardWebhooks, StandardWebhooksSigner};
use mailhook::scheme::stripe::StripeVerifier;
use mailhook::scheme::{shopify, slack};
use mailhook::{Secret, VerifyError};
use time::OffsetDateTime;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting touches only a
// thread-local `Cell`, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce() -> Result<(), VerifyError>) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    let after = ALLOCATIONS.with(Cell::get);
    assert_eq!(result, Ok(()), "verification must succeed");
    after - before
}

const NOW: i64 = 1_700_000_000;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).expect("time")
}

fn body() -> Vec<u8> {
    br#"{"event":"delivered","email":"a@example.com"}"#.repeat(100)
}

fn to_map(pairs: &[(String, String)]) -> http::HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            )
        })
        .collect()
}

fn secret() -> Secret {
    Secret::from_bytes("alloc-test-secret").expect("secret")
}

#[test]
fn standard_webhooks_verify_allocates_nothing() {
    let body = body();
    let signer = StandardWebhooksSigner::new(secret());
    let pairs: Vec<(String, String)> = signer
        .headers("msg_1", NOW, &body)
        .expect("sign")
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let map = to_map(&pairs);
    // A rotated key listed first, so the loop over keys and entries runs.
    let verifier = StandardWebhooks::new(Secret::from_bytes("old").expect("k")).with_key(secret());
    assert_eq!(
        allocations_during(|| verifier.verify_at(&pairs, &body, now()).map(drop)),
        0
    );
    assert_eq!(
        allocations_during(|| verifier.verify_at(&map, &body, now()).map(drop)),
        0
    );
}

#[test]
fn stripe_verify_allocates_nothing() {
    let body = body();
    let value = StripeVerifier::new(secret())
        .sign(NOW, &body)
        .expect("sign");
    let pairs = vec![("Stripe-Signature".to_owned(), format!("{value},v0=abcd"))];
    let map = to_map(&pairs);
    let verifier = StripeVerifier::new(secret());
    assert_eq!(
        allocations_during(|| verifier.verify_at(&pairs, &body, now()).map(drop)),
        0
    );
    assert_eq!(
        allocations_during(|| verifier.verify_at(&map, &body, now()).map(drop)),
        0
    );
}

#[test]
fn github_verify_allocates_nothing() {
    let body = body();
    let verifier = GitHubVerifier::new(secret());
    let pairs = verifier.sign(&body).expect("sign");
    let map = to_map(&pairs);
    assert_eq!(
        allocations_during(|| verifier.verify(&pairs, &body).map(drop)),
        0
    );
    assert_eq!(
        allocations_during(|| verifier.verify(&map, &body).map(drop)),
        0
    );
}

#[test]
fn slack_verify_allocates_nothing() {
    let body = body();
    let verifier = slack::verifier(secret());
    let pairs = verifier.sign(Some(NOW), &body).expect("sign");
    let map = to_map(&pairs);
    assert_eq!(
        allocations_during(|| verifier.verify_at(&pairs, &body, now()).map(drop)),
        0
    );
    assert_eq!(
        allocations_during(|| verifier.verify_at(&map, &body, now()).map(drop)),
        0
    );
}

#[test]
fn shopify_verify_allocates_nothing() {
    let body = body();
    let verifier = shopify::verifier(secret());
    let pairs = verifier.sign(None, &body).expect("sign");
    let map = to_map(&pairs);
    assert_eq!(
        allocations_during(|| verifier.verify_at(&pairs, &body, now()).map(drop)),
        0
    );
    assert_eq!(
        allocations_during(|| verifier.verify_at(&map, &body, now()).map(drop)),
        0
    );
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the guard: a counted region that allocates is seen.
    let before = ALLOCATIONS.with(Cell::get);
    let v = std::hint::black_box(vec![1u8; 64]);
    drop(v);
    assert!(ALLOCATIONS.with(Cell::get) > before);
}
