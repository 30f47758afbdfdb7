//! Verifying a request allocates nothing: header parsing on borrowed
//! strings, the body streamed into the MAC, signatures decoded into stack
//! buffers. A counting global allocator proves it for each HMAC scheme, with
//! headers both in an `http::HeaderMap` and in a slice of pairs.
//!
//! The same allocator also tracks the bytes live on the test's thread and
//! their peak, to bound the memory hostile bodies can cost: form bodies of
//! millions of parameters (Twilio, Mailgun's legacy forms) and SES events
//! fanned out to many recipients.

// Tests and benches panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The only unsafe code in the repository: a `GlobalAlloc` must be an unsafe impl.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use email_webhooks::Configure as _;
use email_webhooks::scheme::github::GitHubVerifier;
use email_webhooks::scheme::standard::{StandardWebhooks, StandardWebhooksSigner};
use email_webhooks::scheme::stripe::StripeVerifier;
use email_webhooks::scheme::{shopify, slack};
use email_webhooks::{Secret, VerifyError};
use time::OffsetDateTime;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Bytes allocated and not yet freed on this thread (frees of memory
    /// allocated elsewhere may take it below zero).
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grow(bytes: usize) {
    let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
    LIVE.with(|live| {
        let now = live.get().saturating_add(bytes);
        live.set(now);
        PEAK.with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrink(bytes: usize) {
    let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
    LIVE.with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting touches only a
// thread-local `Cell`, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // Counted as the new block allocated before the old one is freed,
        // as a moving realloc does.
        grow(new_size);
        shrink(layout.size());
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

/// The most bytes live at once while `f` runs, beyond those live before.
fn peak_bytes_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get);
    (out, usize::try_from(peak - start).unwrap_or(0))
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

#[test]
fn the_peak_counter_sees_live_bytes() {
    let ((), peak) = peak_bytes_during(|| {
        let v = std::hint::black_box(vec![1u8; 1 << 20]);
        drop(v);
    });
    assert!(peak >= 1 << 20, "{peak}");
}

// --- Item 6: form bodies cost no more than a small factor of their size ---

const FIVE_MIB: usize = 5 * 1024 * 1024;

/// `a&a&a…`: millions of empty parameters.
fn ampersands() -> Vec<u8> {
    b"a&".repeat(FIVE_MIB / 2)
}

/// 1,000 parameters (the default limit) whose values are all escapes, so
/// decoding them would copy: 5 MiB in all.
fn escaped_form(extra: &str) -> Vec<u8> {
    let value = "%41".repeat(FIVE_MIB / 3 / 1_000);
    let mut body: Vec<String> = (0..997).map(|i| format!("P{i}={value}")).collect();
    body.push(extra.to_owned());
    body.join("&").into_bytes()
}

#[test]
fn twilio_form_parsing_is_bounded_before_authentication() {
    use email_webhooks::scheme::twilio::TwilioVerifier;
    let verifier = TwilioVerifier::new(secret());
    let headers = [
        ("X-Twilio-Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let url = "https://example.com/hook";

    let body = ampersands();
    let (result, peak) = peak_bytes_during(|| verifier.verify(&headers, url, &body).map(drop));
    assert_eq!(result.unwrap_err().code(), "too_many_parameters");
    assert!(peak < 4096, "{peak} bytes for {} bytes of `a&`", body.len());

    // Within the limit, parameters are streamed into the MAC, not copied.
    let body = escaped_form("Q=1&R=2");
    let (result, peak) = peak_bytes_during(|| verifier.verify(&headers, url, &body).map(drop));
    assert_eq!(result.unwrap_err().code(), "invalid_signature");
    assert!(
        peak < 256 * 1024,
        "{peak} bytes for a {}-byte form",
        body.len()
    );
}

#[test]
fn mailgun_legacy_form_parsing_is_bounded_before_authentication() {
    use email_webhooks::provider::mailgun::MailgunVerifier;
    let verifier = MailgunVerifier::new(secret()).dangerous_disable_replay_check();
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];

    let body = ampersands();
    let (result, peak) = peak_bytes_during(|| verifier.verify(&headers, &body).map(drop));
    assert_eq!(result.unwrap_err().code(), "too_many_parameters");
    assert!(peak < 4096, "{peak} bytes for {} bytes of `a&`", body.len());

    let body = escaped_form(&format!(
        "timestamp={NOW}&token=t&signature={}",
        "0".repeat(64)
    ));
    let (result, peak) = peak_bytes_during(|| verifier.verify(&headers, &body).map(drop));
    assert_eq!(result.unwrap_err().code(), "invalid_signature");
    assert!(
        peak < 256 * 1024,
        "{peak} bytes for a {}-byte form",
        body.len()
    );
}

// --- Item 7: SES fan-out shares the message and is bounded ---

/// An SES `Send` event naming `recipients`, with `headers` bytes of
/// original headers (kept only in the shared JSON, as real messages carry
/// them) and `tags` bytes of tags (copied into every event's metadata).
fn ses_message(recipients: usize, headers: usize, tags: usize) -> Vec<u8> {
    let destination: Vec<String> = (0..recipients)
        .map(|i| format!("r{i}@example.com"))
        .collect();
    let message = serde_json::json!({
        "eventType": "Send",
        "mail": {"messageId": "m", "destination": destination,
                 "headers": [{"name": "X-Pad", "value": "h".repeat(headers)}],
                 "tags": {"pad": ["t".repeat(tags)]}},
        "send": {},
    });
    serde_json::json!({"Type": "Notification", "MessageId": "id",
                       "Message": message.to_string(), "Timestamp": "2024-01-01T00:00:00Z"})
    .to_string()
    .into_bytes()
}

#[test]
fn ses_fan_out_shares_the_message_and_stays_linear() {
    use email_webhooks::provider::ses;
    // As many recipients as SES allows in one message, 40 KB of headers and
    // the most tags SES allows (50 of up to 256 bytes each, about 13 KB).
    let body = ses_message(50, 40_000, 13_000);
    let (events, peak) = peak_bytes_during(|| ses::parse(&body).map(|e| e.len()));
    assert_eq!(events.unwrap(), 50);
    // 50 events each with its own copy of the 53 KB event would be 2.6 MB.
    assert!(peak < 16 * body.len(), "{peak} bytes for {}", body.len());
}

#[test]
fn ses_fan_out_beyond_the_limits_is_refused_early() {
    use email_webhooks::provider::ses;
    // The review's case: a 43 KB envelope naming 4,000 destinations.
    let body = ses_message(4_000, 0, 0);
    let (result, peak) = peak_bytes_during(|| ses::parse(&body).map(|e| e.len()));
    assert_eq!(result.unwrap_err().code(), "invalid_payload");
    assert!(peak < 8 * body.len(), "{peak} bytes for {}", body.len());
    // Within the recipient limit but copying large tags to every event.
    let body = ses_message(100, 0, 400_000);
    let (result, peak) = peak_bytes_during(|| ses::parse(&body).map(|e| e.len()));
    assert_eq!(result.unwrap_err().code(), "invalid_payload");
    assert!(peak < 8 * body.len(), "{peak} bytes for {}", body.len());
}

/// A SparkPost element of many empty classes (after authentication, or
/// through `parse`) is read up to a few classes, not a model per class:
/// 400,000 classes once cost about 200 MB.
#[test]
fn sparkpost_classes_per_element_are_bounded() {
    let classes: Vec<String> = (0..400_000).map(|i| format!(r#""c{i}":{{}}"#)).collect();
    let body = format!(r#"[{{"msys":{{{}}}}}]"#, classes.join(","));
    let (events, peak) =
        peak_bytes_during(|| email_webhooks::provider::sparkpost::parse(body.as_bytes()).unwrap());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, email_webhooks::EventKind::Unknown);
    assert!(
        peak < 4 * body.len(),
        "peak {peak} bytes for a {} byte body",
        body.len()
    );
}
