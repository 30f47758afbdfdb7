//! The receive pipeline: verify → parse → claim, and the handler pattern
//! (complete on success, release on failure) over the in-memory store.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use email_webhooks::BasicAuth;
use email_webhooks::Configure as _;
use email_webhooks::Request;
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::{Delivery, Incoming, Pipeline};
use email_webhooks::provider::postmark::PostmarkVerifier;
use email_webhooks::provider::sendgrid::{SendgridSigner, SendgridVerifier};
use time::OffsetDateTime;

fn postmark() -> Pipeline<PostmarkVerifier, MemoryStore> {
    Pipeline::new(
        PostmarkVerifier::new(BasicAuth::new("pm", "secret-pass").unwrap()),
        MemoryStore::new(),
    )
}

fn auth(pass: &str) -> Vec<(String, String)> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("pm:{pass}"));
    vec![("Authorization".into(), format!("Basic {b64}"))]
}

const BOUNCE: &[u8] = br#"{"RecordType":"Bounce","ID":7,"Type":"HardBounce","Email":"a@b.c","MessageID":"m1","BouncedAt":"2024-01-01T00:00:00Z"}"#;

#[allow(clippy::ptr_arg)] // a slice cannot become `&dyn Headers` (it is unsized)
fn request<'a>(headers: &'a Vec<(String, String)>, body: &'a [u8]) -> Request<'a> {
    Request::new(headers, body)
}

fn only(delivery: Delivery) -> Incoming {
    match delivery {
        Delivery::Events(mut events) => {
            assert_eq!(events.len(), 1);
            events.remove(0)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_redelivered_event_is_a_duplicate_once_completed() {
    let p = postmark();
    let h = auth("secret-pass");
    let Incoming::New { event, claim } = only(p.process(&request(&h, BOUNCE)).await.unwrap())
    else {
        panic!()
    };
    assert_eq!(event.idempotency_key(), "postmark:7");
    p.complete(&claim).await.unwrap();
    let again = p.process(&request(&h, BOUNCE)).await.unwrap();
    assert!(again.is_settled());
    assert!(matches!(only(again), Incoming::Duplicate(_)));
}

#[tokio::test]
async fn a_held_event_is_in_progress_and_a_released_one_is_new_again() {
    let p = postmark();
    let h = auth("secret-pass");
    let Incoming::New { claim, .. } = only(p.process(&request(&h, BOUNCE)).await.unwrap()) else {
        panic!()
    };
    let meanwhile = p.process(&request(&h, BOUNCE)).await.unwrap();
    assert!(!meanwhile.is_settled());
    assert!(matches!(only(meanwhile), Incoming::InProgress(_)));
    // The handler failed: release, so the provider's retry is processed.
    p.release(&claim).await.unwrap();
    assert!(matches!(
        only(p.process(&request(&h, BOUNCE)).await.unwrap()),
        Incoming::New { .. }
    ));
}

#[tokio::test]
async fn verification_failures_stop_the_pipeline() {
    let p = postmark();
    let h = auth("wrong");
    assert_eq!(
        p.process(&request(&h, BOUNCE)).await.unwrap_err().code(),
        "unauthorized"
    );
    let h = auth("secret-pass");
    assert_eq!(
        p.process(&request(&h, b"not json"))
            .await
            .unwrap_err()
            .code(),
        "invalid_payload"
    );
}

#[tokio::test]
async fn a_batch_is_claimed_event_by_event() {
    let (signer, _) = SendgridSigner::generate().unwrap();
    let p = Pipeline::new(
        SendgridVerifier::new(signer.public_key().unwrap()),
        MemoryStore::new(),
    );
    let one = br#"[{"event":"delivered","email":"a@b.c","sg_event_id":"e1"}]"#;
    let h = signer
        .headers(OffsetDateTime::now_utc().unix_timestamp(), one)
        .unwrap();
    let Incoming::New { claim, .. } = only(p.process(&request(&h, one)).await.unwrap()) else {
        panic!()
    };
    p.complete(&claim).await.unwrap();

    // The provider redelivers e1 inside a larger batch.
    let batch = br#"[{"event":"delivered","email":"a@b.c","sg_event_id":"e1"},{"event":"open","email":"a@b.c","sg_event_id":"e2"}]"#;
    let h = signer
        .headers(OffsetDateTime::now_utc().unix_timestamp() + 100, batch)
        .unwrap();
    let Delivery::Events(events) = p.process(&request(&h, batch)).await.unwrap() else {
        panic!()
    };
    assert!(matches!(events[0], Incoming::Duplicate(_)));
    assert!(matches!(events[1], Incoming::New { .. }));
}

#[tokio::test]
async fn without_a_store_every_event_is_new_and_unclaimed() {
    let p = Pipeline::without_store(PostmarkVerifier::new(
        BasicAuth::new("pm", "secret-pass").unwrap(),
    ))
    .unwrap();
    let h = auth("secret-pass");
    for _ in 0..2 {
        assert!(matches!(
            only(p.process(&request(&h, BOUNCE)).await.unwrap()),
            Incoming::New { .. }
        ));
    }
}

#[test]
fn process_futures_are_send_for_multithreaded_servers() {
    fn send<F: std::future::Future + Send>(_: F) {}
    let p = postmark();
    let h = auth("secret-pass");
    send(p.process(&request(&h, BOUNCE)));
    let ses: Pipeline<
        email_webhooks::provider::ses::SesVerifier<
            email_webhooks::provider::sns::StaticCertificates,
        >,
        MemoryStore,
    > = Pipeline::new(
        email_webhooks::provider::ses::SesVerifier::new(
            email_webhooks::provider::sns::SnsVerifier::new(
                email_webhooks::provider::sns::StaticCertificates::new(),
                ["arn:aws:sns:eu-west-1:123456789012:ses-events"],
            ),
        ),
        MemoryStore::new(),
    );
    send(ses.process(&request(&h, BOUNCE)));
}

// Mailgun signs only `timestamp` + `token`: a captured signature could carry
// other event data. A pipeline with a store refuses any token seen before.
#[tokio::test]
async fn a_reused_mailgun_token_is_refused_even_with_other_event_data() {
    use email_webhooks::provider::mailgun::MailgunVerifier;
    let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").unwrap());
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let event = serde_json::json!({"event": "delivered", "id": "ev-1", "recipient": "a@b.c"});
    let genuine = verifier.sign(now, "token-1", &event).unwrap();
    let mut forged = genuine.clone();
    forged["event-data"]["event"] = "unsubscribed".into();
    forged["event-data"]["id"] = "ev-forged".into();
    let retry = verifier.sign(now, "token-2", &event).unwrap();
    let p = Pipeline::new(verifier, MemoryStore::new());
    let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let body = |v: &serde_json::Value| v.to_string().into_bytes();

    let Incoming::New { claim, .. } =
        only(p.process(&request(&json, &body(&genuine))).await.unwrap())
    else {
        panic!("the first delivery is new")
    };
    p.complete(&claim).await.unwrap();
    let e = p
        .process(&request(&json, &body(&forged)))
        .await
        .unwrap_err();
    assert_eq!((e.code(), e.http_status()), ("replayed", 401));
    // The token with other bytes of the same event (keys reordered) is a
    // replay too: only the very body it was first seen with passes.
    let reordered = format!(
        "{{\"signature\":{},\"event-data\":{}}}",
        genuine["signature"], genuine["event-data"]
    );
    assert_ne!(reordered.as_bytes(), body(&genuine));
    let e = p
        .process(&request(&json, reordered.as_bytes()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "replayed");
    // The same signed body again (a retry under its first signature) and
    // Mailgun's retry with a fresh token: both the event's duplicate,
    // acknowledged.
    for again in [&genuine, &retry] {
        let again = p.process(&request(&json, &body(again))).await.unwrap();
        assert!(matches!(only(again), Incoming::Duplicate(_)));
    }
    // The forged body is still refused after the genuine repost.
    let e = p
        .process(&request(&json, &body(&forged)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "replayed");

    // Without a store nothing is remembered: the token check needs one, so
    // only the `dangerous_` spelling builds such a pipeline.
    let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").unwrap());
    assert!(Pipeline::without_store(verifier).is_err());
    let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").unwrap());
    let stateless = Pipeline::dangerous_without_store(verifier);
    for _ in 0..2 {
        assert!(
            stateless
                .process(&request(&json, &body(&genuine)))
                .await
                .is_ok()
        );
    }
}

/// Mailgun retries a failed delivery for 8 hours and may keep the first
/// attempt's signature (its documentation does not say). A delivery whose
/// handler failed, posted again byte for byte 10 minutes and then 7 hours
/// later, is handled; the event's own key then makes the next repost a
/// duplicate.
#[tokio::test]
async fn a_mailgun_retry_under_its_first_signature_is_handled_after_a_failure() {
    use email_webhooks::provider::mailgun::MailgunVerifier;
    let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").unwrap());
    let first = OffsetDateTime::now_utc();
    let event = serde_json::json!({"event": "failed", "severity": "permanent",
        "id": "ev-9", "recipient": "gone@example.com"});
    let body = verifier
        .sign(first.unix_timestamp(), "token-9", &event)
        .unwrap()
        .to_string();
    let p = Pipeline::new(verifier, MemoryStore::new());
    let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let at = |later: time::Duration| request(&json, body.as_bytes()).at(first + later);

    // The handler fails: the claim is given back, the answer is a 5xx.
    let Incoming::New { claim, .. } = only(p.process(&at(time::Duration::ZERO)).await.unwrap())
    else {
        panic!("the first delivery is new")
    };
    p.release(&claim).await.unwrap();
    // Mailgun's retries: 10 minutes, then 7 hours after the signature.
    let Incoming::New { claim, .. } =
        only(p.process(&at(time::Duration::minutes(10))).await.unwrap())
    else {
        panic!("the retry is handled")
    };
    p.release(&claim).await.unwrap();
    let Incoming::New { claim, .. } = only(p.process(&at(time::Duration::hours(7))).await.unwrap())
    else {
        panic!("the last retry is handled")
    };
    p.complete(&claim).await.unwrap();
    let again = p.process(&at(time::Duration::hours(8))).await.unwrap();
    assert!(matches!(only(again), Incoming::Duplicate(_)));
    // Past Mailgun's 8 hours of retries and the window's 9: refused.
    let e = p.process(&at(time::Duration::hours(10))).await.unwrap_err();
    assert_eq!(e.code(), "timestamp_too_old");
}

#[tokio::test]
async fn a_token_is_remembered_for_the_replay_window_only() {
    use email_webhooks::ReplayWindow;
    use email_webhooks::provider::mailgun::MailgunVerifier;
    use std::time::Duration;
    let window = ReplayWindow::new(Duration::from_secs(120), Duration::from_secs(30));
    let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").unwrap())
        .with_replay_window(window);
    let now = OffsetDateTime::now_utc();
    let signed = verifier
        .sign(
            now.unix_timestamp(),
            "tok",
            &serde_json::json!({"event": "opened", "id": "o1"}),
        )
        .unwrap()
        .to_string();
    let json = [("Content-Type", "application/json")];
    let (_, token, remember) = verifier
        .verify_and_parse_with_token_at(&json, signed.as_bytes(), now)
        .unwrap();
    assert_eq!(token, format!("{}tok", now.unix_timestamp()));
    assert_eq!(remember, Duration::from_secs(151));
}

/// Mailgun signs the timestamp followed by the token with no separator, so
/// digits moved between the two fields keep the signature valid. The
/// single-use value is the string they make together: the same for every
/// split, so a captured delivery cannot be replayed as "new" tokens (the
/// old value, the token alone, changed with each split; the replay window
/// stops this by default, so the window is disabled here).
#[test]
fn a_mailgun_token_with_digits_moved_from_the_timestamp_is_the_same_token() {
    use email_webhooks::provider::mailgun::MailgunVerifier;
    let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").unwrap())
        .dangerous_disable_replay_check();
    let json = [("Content-Type", "application/json")];
    let event = serde_json::json!({"event": "opened", "id": "o1"});
    let signed = verifier.sign(1_765_000_000, "7abc", &event).unwrap();
    let signature = signed["signature"]["signature"].as_str().unwrap();
    let body = |timestamp: &str, token: &str| {
        serde_json::json!({"signature": {"timestamp": timestamp, "token": token,
            "signature": signature}, "event-data": event})
        .to_string()
    };
    let now = OffsetDateTime::now_utc();
    let single_use = |timestamp: &str, token: &str| {
        verifier
            .verify_and_parse_with_token_at(&json, body(timestamp, token).as_bytes(), now)
            .map(|(_, token, _)| token)
    };
    let original = single_use("1765000000", "7abc").unwrap();
    assert_eq!(single_use("17650000007", "abc").unwrap(), original);
    assert_eq!(single_use("176500000", "07abc").unwrap(), original);
    // A token the signature does not cover is refused.
    assert!(single_use("1765000000", "8abc").is_err(), "forged");
}

#[tokio::test]
async fn a_sendgrid_batch_replayed_inside_the_window_is_a_duplicate_and_refused_after_it() {
    let (signer, _) = SendgridSigner::generate().unwrap();
    let p = Pipeline::new(
        SendgridVerifier::new(signer.public_key().unwrap()),
        MemoryStore::new(),
    );
    let body = br#"[{"event":"delivered","email":"a@b.c","sg_event_id":"w1"}]"#;
    let signed_at = 1_800_000_000;
    let h = signer.headers(signed_at, body).unwrap();
    let at = |seconds: i64| {
        Request::new(&h, body).at(OffsetDateTime::from_unix_timestamp(seconds).unwrap())
    };
    let Incoming::New { claim, .. } = only(p.process(&at(signed_at + 1)).await.unwrap()) else {
        panic!("new")
    };
    p.complete(&claim).await.unwrap();
    // A captured copy replayed 72 hours later: inside the window, and the
    // store (7 days of retention) knows it.
    assert!(matches!(
        only(p.process(&at(signed_at + 72 * 3600)).await.unwrap()),
        Incoming::Duplicate(_)
    ));
    // After the window, refused before the store is asked.
    let e = p.process(&at(signed_at + 73 * 3600 + 1)).await.unwrap_err();
    assert_eq!((e.code(), e.http_status()), ("timestamp_too_old", 401));
}

/// The real in-memory store, with one call made to fail on demand: the
/// backend going away between two calls of one delivery.
struct Flaky {
    inner: MemoryStore,
    fail_begin_at: std::sync::atomic::AtomicUsize,
    fail_complete_at: std::sync::atomic::AtomicUsize,
    begins: std::sync::atomic::AtomicUsize,
    completes: std::sync::atomic::AtomicUsize,
    /// Releases fail from this call on (counted in `releases`; 0: never).
    fail_releases_from: std::sync::atomic::AtomicUsize,
    releases: std::sync::atomic::AtomicUsize,
    /// Every release answers that the claim was taken over, while set.
    stale_releases: std::sync::atomic::AtomicBool,
}

impl Flaky {
    fn new(fail_begin_at: usize, fail_complete_at: usize) -> Self {
        Self {
            inner: MemoryStore::new(),
            fail_begin_at: fail_begin_at.into(),
            fail_complete_at: fail_complete_at.into(),
            begins: 0.into(),
            completes: 0.into(),
            fail_releases_from: 0.into(),
            stale_releases: false.into(),
            releases: 0.into(),
        }
    }

    fn heal(&self) {
        self.fail_begin_at
            .store(0, std::sync::atomic::Ordering::SeqCst);
        self.fail_complete_at
            .store(0, std::sync::atomic::Ordering::SeqCst);
    }
}

fn down() -> email_webhooks::idempotency::StoreError {
    email_webhooks::idempotency::StoreError::Backend("connection reset".into())
}

impl email_webhooks::idempotency::IdempotencyStore for Flaky {
    async fn begin(
        &self,
        key: &str,
        lease: std::time::Duration,
    ) -> Result<email_webhooks::idempotency::Claim, email_webhooks::idempotency::StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.begins.fetch_add(1, SeqCst) + 1;
        if n == self.fail_begin_at.load(SeqCst) {
            return Err(down());
        }
        self.inner.begin(key, lease).await
    }
    async fn complete(
        &self,
        token: &email_webhooks::idempotency::Token,
        retention: std::time::Duration,
    ) -> Result<(), email_webhooks::idempotency::StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.completes.fetch_add(1, SeqCst) + 1;
        if n == self.fail_complete_at.load(SeqCst) {
            return Err(down());
        }
        self.inner.complete(token, retention).await
    }
    async fn release(
        &self,
        token: &email_webhooks::idempotency::Token,
    ) -> Result<(), email_webhooks::idempotency::StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.releases.fetch_add(1, SeqCst) + 1;
        if self.stale_releases.load(SeqCst) {
            return Err(email_webhooks::idempotency::StoreError::StaleToken);
        }
        let from = self.fail_releases_from.load(SeqCst);
        if from > 0 && n >= from {
            return Err(down());
        }
        self.inner.release(token).await
    }
}

/// A signed three-event SendGrid batch and its verifier.
fn sendgrid_batch() -> (SendgridVerifier, Vec<(String, String)>, Vec<u8>) {
    let (signer, _) = SendgridSigner::generate().unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let body = format!(
        r#"[{{"event":"delivered","email":"a@b.c","sg_event_id":"s1","timestamp":{now}}},{{"event":"open","email":"a@b.c","sg_event_id":"s2","timestamp":{now}}},{{"event":"click","email":"a@b.c","sg_event_id":"s3","timestamp":{now}}}]"#
    )
    .into_bytes();
    let headers = signer.headers(now, &body).unwrap();
    (
        SendgridVerifier::new(signer.public_key().unwrap()),
        headers,
        body,
    )
}

fn new_count(delivery: &Delivery) -> usize {
    match delivery {
        Delivery::Events(events) => events
            .iter()
            .filter(|e| matches!(e, Incoming::New { .. }))
            .count(),
        other => panic!("{other:?}"),
    }
}

/// A store failure while a Mailgun token is being spent (claiming the
/// token, recording its body, completing either) answers 503 and leaves
/// nothing held: the retry of the same body is handled, not refused as a
/// replay for the rest of the window.
#[tokio::test]
async fn a_store_failure_while_spending_a_mailgun_token_leaves_the_retry_its_event() {
    use email_webhooks::provider::mailgun::MailgunVerifier;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let event = serde_json::json!({"event": "delivered", "id": "ev-7", "recipient": "a@b.c"});
    let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    // Begins: 1 the token, 2 its body. Completes: 1 the body, 2 the token.
    for (fail_begin_at, fail_complete_at) in [(1, 0), (2, 0), (0, 1), (0, 2)] {
        let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").unwrap());
        let body = verifier.sign(now, "token-7", &event).unwrap().to_string();
        let p = Pipeline::new(verifier, Flaky::new(fail_begin_at, fail_complete_at));
        let e = p
            .process(&request(&json, body.as_bytes()))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code(), e.http_status()),
            ("store_unavailable", 503),
            "{fail_begin_at} {fail_complete_at}"
        );
        p.store().heal();
        let retry = p.process(&request(&json, body.as_bytes())).await.unwrap();
        assert_eq!(new_count(&retry), 1, "{fail_begin_at} {fail_complete_at}");
    }
}

/// A full memory store evicts the completion closest to its end first: a
/// spent Mailgun token goes before the record of its body, never the
/// other way round, so the retry of a failed delivery is handled.
#[tokio::test]
async fn eviction_never_keeps_a_mailgun_token_without_its_body() {
    use email_webhooks::idempotency::{Claim, IdempotencyStore as _};
    use email_webhooks::provider::mailgun::MailgunVerifier;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let event = serde_json::json!({"event": "delivered", "id": "ev-9", "recipient": "a@b.c"});
    let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").unwrap());
    let body = verifier.sign(now, "token-9", &event).unwrap().to_string();
    let p = Pipeline::new(verifier, MemoryStore::new().with_capacity(4));
    let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let Incoming::New { claim, .. } =
        only(p.process(&request(&json, body.as_bytes())).await.unwrap())
    else {
        panic!("new")
    };
    // The handler failed; the token and its body stay spent.
    p.release(&claim).await.unwrap();
    // Other keys, kept a month, fill the store and evict one completion.
    for i in 0..3 {
        let key = format!("other-{i}");
        let Claim::Acquired(t) = p
            .store()
            .begin(&key, std::time::Duration::from_secs(60))
            .await
            .unwrap()
        else {
            panic!("free")
        };
        p.store()
            .complete(&t, std::time::Duration::from_secs(30 * 86_400))
            .await
            .unwrap();
    }
    assert_eq!(p.store().evicted(), 1);
    let retry = p.process(&request(&json, body.as_bytes())).await.unwrap();
    assert_eq!(new_count(&retry), 1);
}

/// A full memory store evicts every other completed key before a spent
/// single-use value: a flood of keys (a burst, or a weak credential of
/// another provider) evicted Mailgun's spent tokens first (they are kept
/// the shortest), and a captured signature then carried other events.
#[tokio::test]
async fn a_flood_of_other_keys_never_frees_a_spent_mailgun_token() {
    use email_webhooks::idempotency::{Claim, IdempotencyStore as _};
    use email_webhooks::provider::mailgun::MailgunVerifier;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let event = serde_json::json!({"event": "delivered", "id": "ev-10", "recipient": "a@b.c"});
    let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").unwrap());
    let genuine = verifier.sign(now, "token-10", &event).unwrap();
    let mut forged = genuine.clone();
    forged["event-data"]["event"] = "unsubscribed".into();
    forged["event-data"]["id"] = "ev-11".into();
    let p = Pipeline::new(verifier, MemoryStore::new().with_capacity(8));
    let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    let Incoming::New { claim, .. } = only(
        p.process(&request(&json, genuine.to_string().as_bytes()))
            .await
            .unwrap(),
    ) else {
        panic!("new")
    };
    p.complete(&claim).await.unwrap();
    // A flood of other completed keys, kept a month.
    for i in 0..100 {
        let Claim::Acquired(t) = p
            .store()
            .begin(
                &format!("getresponse:flood-{i}"),
                std::time::Duration::from_secs(60),
            )
            .await
            .unwrap()
        else {
            panic!("free")
        };
        p.store()
            .complete(&t, std::time::Duration::from_secs(30 * 86_400))
            .await
            .unwrap();
    }
    assert!(p.store().evicted() > 90);
    let e = p
        .process(&request(&json, forged.to_string().as_bytes()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "replayed");
}

/// While one request spends a Mailgun token, another carrying the same
/// token (the same body or not) is answered 503, never a replay refusal
/// and never a record of its body: once the first has finished, the same
/// body is the event's duplicate and another body a replay.
#[tokio::test]
async fn a_mailgun_token_being_spent_elsewhere_is_answered_503() {
    use email_webhooks::idempotency::{Claim, IdempotencyStore as _};
    use email_webhooks::provider::mailgun::MailgunVerifier;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let event = serde_json::json!({"event": "delivered", "id": "ev-8", "recipient": "a@b.c"});
    let verifier = MailgunVerifier::new(email_webhooks::Secret::from_bytes("mg-key").unwrap());
    let genuine = verifier.sign(now, "token-8", &event).unwrap();
    let mut forged = genuine.clone();
    forged["event-data"]["event"] = "unsubscribed".into();
    let (genuine, forged) = (genuine.to_string(), forged.to_string());
    let p = Pipeline::new(verifier, MemoryStore::new());
    let json = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    // Another request is spending the token right now.
    // The key the pipeline spends it under.
    let key = format!("single-use:mailgun-token:{now}token-8");
    let Claim::Acquired(held) = p
        .store()
        .begin(&key, std::time::Duration::from_secs(60))
        .await
        .unwrap()
    else {
        panic!("the token is free")
    };
    for body in [&genuine, &forged] {
        let e = p
            .process(&request(&json, body.as_bytes()))
            .await
            .unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("in_progress", 503));
    }
    p.store().release(&held).await.unwrap();
    let Incoming::New { claim, .. } = only(
        p.process(&request(&json, genuine.as_bytes()))
            .await
            .unwrap(),
    ) else {
        panic!("the genuine body is new once the token is free")
    };
    p.complete(&claim).await.unwrap();
    let again = p
        .process(&request(&json, genuine.as_bytes()))
        .await
        .unwrap();
    assert!(matches!(only(again), Incoming::Duplicate(_)));
    let e = p
        .process(&request(&json, forged.as_bytes()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "replayed");
}

#[tokio::test]
async fn a_store_failure_mid_delivery_gives_back_the_claims_already_taken() {
    let (verifier, headers, body) = sendgrid_batch();
    // The third claim fails: the first two must not stay held.
    let p = Pipeline::new(verifier, Flaky::new(3, 0));
    let e = p.process(&request(&headers, &body)).await.unwrap_err();
    assert_eq!((e.code(), e.http_status()), ("store_unavailable", 503));
    p.store().heal();
    // The provider's retry: every event is new, none held by the failure.
    let retry = p.process(&request(&headers, &body)).await.unwrap();
    assert!(retry.is_settled());
    assert_eq!(new_count(&retry), 3);
}

#[tokio::test]
async fn a_store_failure_while_completing_gives_back_the_events_not_yet_handled() {
    let (verifier, headers, body) = sendgrid_batch();
    // Completing the first handled event fails: the run stops, and the two
    // events after it must not stay held.
    let p = Pipeline::new(verifier, Flaky::new(0, 1));
    let e = p
        .run(&request(&headers, &body), |_| async { Ok::<(), ()>(()) })
        .await
        .unwrap_err();
    assert_eq!(e.http_status(), 503);
    p.store().heal();
    let retry = p.process(&request(&headers, &body)).await.unwrap();
    assert!(retry.is_settled(), "{retry:?}");
}

#[tokio::test]
async fn an_event_repeated_in_one_delivery_is_a_duplicate_not_held_elsewhere() {
    let (signer, _) = SendgridSigner::generate().unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let element = format!(
        r#"{{"event":"delivered","email":"a@b.c","sg_event_id":"same","timestamp":{now}}}"#
    );
    let body = format!("[{element},{element}]").into_bytes();
    let headers = signer.headers(now, &body).unwrap();
    let p = Pipeline::new(
        SendgridVerifier::new(signer.public_key().unwrap()),
        MemoryStore::new(),
    );
    let outcome = p
        .run(&request(&headers, &body), |_| async { Ok::<(), ()>(()) })
        .await
        .unwrap();
    assert_eq!(
        (outcome.handled, outcome.duplicates, outcome.in_progress),
        (1, 1, 0)
    );
    assert_eq!(outcome.status(), http::StatusCode::OK);
}

/// `run` claims a delivery's events at once, for one lease, and handles
/// them one at a time: past half the lease it claims the events not yet
/// handled again, so a redelivery arriving while the last ones wait finds
/// them in progress. On the old code their claims lapsed while the first
/// handlers ran, the redelivery took them, and the events were handled
/// twice.
#[tokio::test]
async fn a_slow_batch_keeps_its_waiting_events_claimed() {
    let (verifier, headers, body) = sendgrid_batch();
    let p = Pipeline::new(verifier, MemoryStore::new()).with_lease(Duration::from_secs(1));
    let delivery = request(&headers, &body);
    let first = p.run(&delivery, |_| async {
        tokio::time::sleep(Duration::from_millis(600)).await;
        Ok::<(), ()>(())
    });
    let redelivery = async {
        // Past the lease: the third event has waited 1.3 s by now, and the
        // second is being handled.
        tokio::time::sleep(Duration::from_millis(1300)).await;
        p.process(&request(&headers, &body)).await.unwrap()
    };
    let (outcome, again) = tokio::join!(first, redelivery);
    let outcome = outcome.unwrap();
    assert_eq!(outcome.handled, 3, "{outcome:?}");
    assert_eq!(new_count(&again), 0, "{again:?}");
    // Once done, every event is a duplicate.
    let last = p.process(&request(&headers, &body)).await.unwrap();
    assert!(last.is_settled(), "{last:?}");
}

/// A store that fails a release most likely fails the next ones too, each
/// after its own timeout (5 s on the server stores): giving back the claims
/// of a failed delivery stops at the first release that fails, and the
/// rest expire with their leases. On the old code every claim of the
/// delivery was tried, up to 10,000 of them: hours for one request. A
/// claim that lapsed and was taken over answers `StaleToken`: no failure
/// of the store, so the others are still given back (the provider's retry
/// is then handled at once, not after their leases).
#[tokio::test]
async fn giving_back_claims_stops_at_the_first_release_the_store_fails() {
    use std::sync::atomic::Ordering::SeqCst;
    // Completing the first event fails. Then: its own claim's release
    // fails (nothing more is tried); it succeeds and the first of the two
    // waiting claims fails (the last is not tried); every claim was taken
    // over (all three are tried).
    for (fail_from, stale, tried) in [(1, false, 1), (2, false, 2), (0, true, 3)] {
        let (verifier, headers, body) = sendgrid_batch();
        let store = Flaky::new(0, 1);
        store.fail_releases_from.store(fail_from, SeqCst);
        store.stale_releases.store(stale, SeqCst);
        let p = Pipeline::new(verifier, store);
        let e = p
            .run(&request(&headers, &body), |_| async { Ok::<(), ()>(()) })
            .await
            .unwrap_err();
        assert_eq!(e.http_status(), 503);
        assert_eq!(
            p.store().releases.load(SeqCst),
            tried,
            "{fail_from} {stale}"
        );
    }
}

/// A lease of zero still handles every event: `run` claims the waiting
/// events again only after handling one. (Claiming again before each
/// event, it would never handle one.)
#[test]
fn a_zero_lease_still_makes_progress() {
    let (verifier, headers, body) = sendgrid_batch();
    let p = Pipeline::new(verifier, MemoryStore::new()).with_lease(Duration::ZERO);
    // On a thread of its own: a loop that never waits cannot be timed out
    // from its own thread.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            p.run(&request(&headers, &body), |_| async { Ok::<(), ()>(()) })
                .await
                .unwrap()
        });
        let _ = done.send(outcome.handled);
    });
    let seen = finished
        .recv_timeout(Duration::from_secs(10))
        .expect("no progress");
    assert_eq!(seen, 3);
}
