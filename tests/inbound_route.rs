//! The adapters' inbound route, `/webhooks/{provider}/inbound`, over real
//! HTTP on 127.0.0.1, for axum and actix-web alike, in both modes: every
//! inbound provider's simulated delivery handled once (a redelivery is a
//! duplicate), the negative answers (forged 401, unconfigured 404, over the
//! inbound body limit 413, a failed handler 500 then handled on the
//! redelivery), and the handoff to a real SQLite queue read back by a
//! worker, with a message over the queue bound answered 503 and nothing
//! queued.
#![cfg(all(
    feature = "axum",
    feature = "actix-web",
    feature = "sqlite",
    feature = "worker"
))]
// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/http.rs"]
mod http;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use email_webhooks::adapters::Handled;
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::inbound::{InboundLimits, InboundMessage, InboundProviders};
use email_webhooks::provider::{Settings, Simulated, Simulation};
use email_webhooks::queue::{Queue as _, SqliteQueue};
use email_webhooks::worker::Worker;
use email_webhooks::{EventKind, Provider};
use http::post;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Each provider's inbound credentials: basic auth where it uses it, a
/// signing key or token where it signs, the URL where it signs the URL.
fn settings() -> Settings {
    let mut settings = Settings::new();
    settings.basic_auth.push("user:pass-phrase".to_owned());
    settings.secrets.push("signing-key".to_owned());
    settings.url = Some("https://hooks.example.com/webhooks/inbound".to_owned());
    settings
        .keys
        .push(include_str!("data/sns-test-cert.pem").to_owned());
    settings
        .topics
        .push("arn:aws:sns:us-east-1:123456789012:inbound".to_owned());
    settings
}

/// The settings to send with: SES signs with the private key of the
/// certificate it is verified with.
fn sending(provider: Provider) -> Settings {
    use base64::Engine as _;
    let mut settings = settings();
    settings.keys.clear();
    if provider == Provider::Resend {
        settings.secrets = vec![resend_secret()];
    }
    let private: &[u8] = match provider {
        Provider::Ses => include_bytes!("data/sns-test-key.pk8"),
        Provider::Postal => include_bytes!("data/postal-test-key-2048.pk8"),
        _ => return settings,
    };
    settings.keys = vec![base64::engine::general_purpose::STANDARD.encode(private)];
    settings
}

/// The settings `provider` verifies with: Postal with its server's public
/// key, SES with the SNS certificate.
fn verifying(provider: Provider) -> Settings {
    let mut settings = settings();
    if provider != Provider::Ses {
        // SendGrid with keys is the signed security policy, not basic auth.
        settings.keys.clear();
    }
    if provider == Provider::Resend {
        settings.secrets = vec![resend_secret()];
    }
    if provider == Provider::Postal {
        settings.keys = vec![include_str!("data/postal-test-key-2048.pub.pem").to_owned()];
    }
    settings
}

/// What Resend's API serves for the simulated messages.
fn served() -> email_webhooks::inbound::StaticContent {
    let mut served = email_webhooks::inbound::StaticContent::new();
    for (url, bytes) in
        email_webhooks::provider::resend::simulated_content("m-1", "support@example.org")
    {
        served = served.with(url, bytes);
    }
    served
}

/// Resend's `whsec_` secret.
fn resend_secret() -> String {
    use base64::Engine as _;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode("signing-key")
    )
}

/// Every provider whose inbound mail this build reads.
fn inbound_providers() -> Vec<Provider> {
    Provider::ALL
        .iter()
        .copied()
        .filter(|p| p.info().is_some_and(|i| i.inbound.is_some()))
        .collect()
}

/// Small limits, so the over-limit cases are cheap: the body bound above
/// the events' default 5 MiB would make no difference here, so the test
/// of "the inbound limit, not the events'" uses its own receiver.
fn configured(limits: InboundLimits) -> Arc<InboundProviders> {
    let mut inbound = InboundProviders::new()
        .with_limits(limits)
        .with_content_source(served());
    for provider in inbound_providers() {
        inbound = inbound.with(provider, &verifying(provider)).unwrap();
    }
    Arc::new(inbound)
}

fn simulated(provider: Provider, attempt: &str, tamper: bool) -> Simulated {
    let settings = sending(provider);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut sim = Simulation::new(
        EventKind::Inbound,
        "support@example.org",
        "m-1",
        now,
        &settings,
    )
    .attempt(attempt);
    if tamper {
        sim = sim.tampered();
    }
    (provider.info().unwrap().inbound.unwrap().simulate)(&sim).unwrap()
}

type Seen = Arc<Mutex<Vec<InboundMessage>>>;
type Log = Arc<Mutex<Vec<Handled>>>;

/// A handler that records each message, failing while `fail` is set.
fn recorder(
    seen: &Seen,
    fail: &Arc<AtomicBool>,
) -> impl Fn(InboundMessage) -> std::future::Ready<Result<(), String>> + Clone + Send + Sync + 'static
{
    let (seen, fail) = (Arc::clone(seen), Arc::clone(fail));
    move |message| {
        if fail.load(Ordering::SeqCst) {
            return std::future::ready(Err("the handler failed".to_owned()));
        }
        seen.lock().unwrap().push(message);
        std::future::ready(Ok(()))
    }
}

async fn start_axum(
    inbound: Arc<InboundProviders>,
    seen: &Seen,
    fail: &Arc<AtomicBool>,
) -> (String, Log) {
    let log: Log = Arc::default();
    let observed = Arc::clone(&log);
    let router = email_webhooks::adapters::axum::inbound_router(
        inbound,
        Arc::new(MemoryStore::new()),
        recorder(seen, fail),
        move |handled: &Handled| observed.lock().unwrap().push(handled.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, log)
}

fn start_actix(
    inbound: Arc<InboundProviders>,
    seen: &Seen,
    fail: &Arc<AtomicBool>,
) -> (String, Log) {
    let log: Log = Arc::default();
    let observed = Arc::clone(&log);
    let store = Arc::new(MemoryStore::new());
    let handler = recorder(seen, fail);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = actix_web::HttpServer::new(move || {
        let observed = Arc::clone(&observed);
        actix_web::App::new().service(email_webhooks::adapters::actix::inbound_resource(
            Arc::clone(&inbound),
            Arc::clone(&store),
            handler.clone(),
            move |handled: &Handled| observed.lock().unwrap().push(handled.clone()),
        ))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
    (addr, log)
}

/// One HTTP/1.1 HEAD on a fresh connection: the status.
async fn head(addr: &str, target: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("HEAD {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn target(provider: Provider, delivery: &Simulated) -> String {
    match &delivery.query {
        Some(q) => format!("/webhooks/{provider}/inbound?{q}"),
        None => format!("/webhooks/{provider}/inbound"),
    }
}

async fn exercise(addr: &str, log: &Log, seen: &Seen, fail: &AtomicBool) {
    for provider in inbound_providers() {
        seen.lock().unwrap().clear();
        let first = simulated(provider, "attempt-1", false);
        let status = post(addr, &target(provider, &first), &first.headers, &first.body).await;
        assert_eq!(status, 200, "{provider}");
        // Redelivered, signed anew: acknowledged, not handled again.
        let again = simulated(provider, "attempt-2", false);
        let status = post(addr, &target(provider, &again), &again.headers, &again.body).await;
        assert_eq!(status, 200, "{provider}");
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), 1, "{provider}");
            assert_eq!(seen[0].provider, provider);
            assert_eq!(
                seen[0].subject.as_deref(),
                Some("Re: your order"),
                "{provider}"
            );
        }
        let last = log.lock().unwrap().last().cloned().unwrap();
        assert_eq!((last.handled, last.duplicates), (0, 1), "{provider}");
        // Forged: refused, nothing handled.
        let forged = simulated(provider, "attempt-3", true);
        let status = post(
            addr,
            &target(provider, &forged),
            &forged.headers,
            &forged.body,
        )
        .await;
        assert!(matches!(status, 400 | 401), "{provider}: {status}");
        assert_eq!(seen.lock().unwrap().len(), 1, "{provider}");
    }
    // The URL check before a provider accepts a route (Mandrill's HEAD):
    // 200 for a configured provider, 404 otherwise.
    assert_eq!(head(addr, "/webhooks/mandrill/inbound").await, 200);
    assert_eq!(head(addr, "/webhooks/nobody/inbound").await, 404);
    // A provider not configured, or not one at all: 404.
    let d = simulated(Provider::Postmark, "attempt-1", false);
    assert_eq!(
        post(addr, "/webhooks/nobody/inbound", &d.headers, &d.body).await,
        404
    );
    // A failing handler: 500 (the provider sends again), then handled on
    // the redelivery.
    let fresh = |attempt: &str| {
        let settings = settings();
        let sim = Simulation::new(
            EventKind::Inbound,
            "sales@example.org",
            "m-2",
            1_800_000_000,
            &settings,
        )
        .attempt(attempt);
        (Provider::Postmark.info().unwrap().inbound.unwrap().simulate)(&sim).unwrap()
    };
    seen.lock().unwrap().clear();
    fail.store(true, Ordering::SeqCst);
    let d = fresh("attempt-1");
    assert_eq!(
        post(addr, &target(Provider::Postmark, &d), &d.headers, &d.body).await,
        500
    );
    assert_eq!(log.lock().unwrap().last().unwrap().failed, 1);
    fail.store(false, Ordering::SeqCst);
    assert_eq!(
        post(addr, &target(Provider::Postmark, &d), &d.headers, &d.body).await,
        200
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
    // Over the inbound body limit: 413 before anything is read.
    let big = vec![b'x'; 300 * 1024];
    assert_eq!(
        post(addr, &target(Provider::Postmark, &d), &d.headers, &big).await,
        413
    );
}

fn limits() -> InboundLimits {
    InboundLimits::default().with_max_body_bytes(256 * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_inbound_route_handles_each_message_once() {
    let (seen, fail) = (Seen::default(), Arc::new(AtomicBool::new(false)));
    let (addr, log) = start_axum(configured(limits()), &seen, &fail).await;
    exercise(&addr, &log, &seen, &fail).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_inbound_route_handles_each_message_once() {
    let (seen, fail) = (Seen::default(), Arc::new(AtomicBool::new(false)));
    let (addr, log) = start_actix(configured(limits()), &seen, &fail);
    exercise(&addr, &log, &seen, &fail).await;
}

/// The inbound body limit, not the events' 5 MiB default: a 6 MiB message
/// is received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbound_limit_is_the_routes_not_the_events() {
    let (seen, fail) = (Seen::default(), Arc::new(AtomicBool::new(false)));
    let inbound = configured(InboundLimits::default());
    let (axum_addr, _) = start_axum(Arc::clone(&inbound), &seen, &fail).await;
    let (actix_addr, _) = start_actix(inbound, &seen, &fail);
    let settings = settings();
    let text = "x".repeat(6 << 20);
    for (addr, id) in [(axum_addr, "big-1"), (actix_addr, "big-2")] {
        let body = serde_json::json!({
            "From": "customer@example.net", "To": "support@example.org",
            "OriginalRecipient": "support@example.org", "Subject": "big",
            "MessageID": id, "TextBody": text, "Headers": [], "Attachments": [],
        })
        .to_string();
        let sim = Simulation::new(
            EventKind::Inbound,
            "support@example.org",
            id,
            1_800_000_000,
            &settings,
        )
        .with_body(body.as_bytes());
        let d = (Provider::Postmark.info().unwrap().inbound.unwrap().simulate)(&sim).unwrap();
        assert_eq!(
            post(&addr, &target(Provider::Postmark, &d), &d.headers, &d.body).await,
            200
        );
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
}

/// The handoff route on axum and actix-web, onto one queue: their
/// addresses, and the axum route's observations.
async fn start_handoff(
    inbound: Arc<InboundProviders>,
    queue: &SqliteQueue,
) -> (String, String, Log) {
    let store = Arc::new(MemoryStore::new());
    let log: Log = Arc::default();
    let observed = Arc::clone(&log);
    let axum = email_webhooks::adapters::axum::inbound_handoff_router(
        Arc::clone(&inbound),
        Arc::clone(&store),
        queue.clone(),
        move |handled: &Handled| observed.lock().unwrap().push(handled.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let axum_addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, axum).await.unwrap() });
    let actix_queue = queue.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let actix_addr = listener.local_addr().unwrap().to_string();
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new().service(email_webhooks::adapters::actix::inbound_handoff_resource(
            Arc::clone(&inbound),
            Arc::clone(&store),
            actix_queue.clone(),
            |_: &Handled| {},
        ))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
    (axum_addr, actix_addr, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_queues_each_message_once_and_refuses_what_it_cannot_hold() {
    let dir = std::env::temp_dir().join(format!(
        "email-webhooks-inbound-route-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("inbound.db");
    let _ = std::fs::remove_file(&path);
    let queue = SqliteQueue::open(&path).unwrap();
    // Room for the simulated messages, not for a 100 KiB one.
    let inbound = configured(limits().with_max_queued_bytes(64 * 1024));
    let (axum_addr, actix_addr, log) = start_handoff(inbound, &queue).await;

    // Each provider's message, to both servers, twice: queued once.
    let mut first = Vec::new();
    for provider in inbound_providers() {
        for (addr, attempt) in [(&axum_addr, "attempt-1"), (&actix_addr, "attempt-2")] {
            let d = simulated(provider, attempt, false);
            if attempt == "attempt-1" {
                first.push((provider, d.clone()));
            }
            assert_eq!(
                post(addr, &target(provider, &d), &d.headers, &d.body).await,
                200,
                "{provider}"
            );
        }
    }
    let counts = queue.counts().await.unwrap();
    assert_eq!(counts.ready, inbound_providers().len() as u64);
    // Over the queue bound: 503 (the provider keeps it), nothing queued.
    let settings = settings();
    let body = serde_json::json!({
        "From": "customer@example.net", "OriginalRecipient": "support@example.org",
        "Subject": "big", "MessageID": "too-big", "TextBody": "y".repeat(100 * 1024),
        "Headers": [], "Attachments": [],
    })
    .to_string();
    let sim = Simulation::new(
        EventKind::Inbound,
        "support@example.org",
        "too-big",
        1_800_000_000,
        &settings,
    )
    .with_body(body.as_bytes());
    let d = (Provider::Postmark.info().unwrap().inbound.unwrap().simulate)(&sim).unwrap();
    assert_eq!(
        post(
            &axum_addr,
            &target(Provider::Postmark, &d),
            &d.headers,
            &d.body
        )
        .await,
        503
    );
    assert_eq!(
        log.lock().unwrap().last().unwrap().error_code,
        Some("job_too_large")
    );
    assert_eq!(
        queue.counts().await.unwrap().ready,
        inbound_providers().len() as u64
    );

    // A worker reads back what the receiver parsed.
    let got: Seen = Seen::default();
    let into = Arc::clone(&got);
    let report = Worker::new(queue.clone())
        .run_inbound_until_idle(move |message| {
            into.lock().unwrap().push(message);
            std::future::ready(Ok::<(), String>(()))
        })
        .await;
    assert_eq!(report.handled, inbound_providers().len() as u64);
    let got = std::mem::take(&mut *got.lock().unwrap());
    for (provider, d) in first {
        let request = email_webhooks::Request::new(&d.headers, &d.body);
        let mut parsed =
            (provider.info().unwrap().inbound.unwrap().parse)(&request, &limits()).unwrap();
        // The single-use token is spent by the receiver, not queued; what
        // the provider serves by reference is fetched before.
        parsed[0].replay_token = None;
        parsed[0].fetch(&served(), &limits()).await.unwrap();
        let worked = got.iter().find(|m| m.provider == provider).unwrap();
        assert_eq!(worked, &parsed[0], "{provider}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// SES's inbound mail authenticated by a verifier that fetches SNS
/// certificates by URL (`with_verifier`): a delivery signed with another
/// certificate (after a rotation, or from a topic in another region) is
/// verified. Settings pin the one certificate they name and refuse it, and
/// SNS drops a refused delivery.
#[tokio::test]
async fn ses_inbound_through_a_verifier_follows_the_certificate_url() {
    use base64::Engine as _;
    use email_webhooks::provider::ses::SesVerifier;
    use email_webhooks::provider::sns::{SnsVerifier, StaticCertificates};
    let topic = "arn:aws:sns:us-east-1:123456789012:inbound";
    // Signed with the second certificate's key, at the URL SES's
    // simulator names.
    let mut signer = Settings::new();
    signer.keys = vec![
        base64::engine::general_purpose::STANDARD.encode(include_bytes!("data/sns-test-key-2.pk8")),
    ];
    signer.topics = vec![topic.to_owned()];
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sim = Simulation::new(
        EventKind::Inbound,
        "support@example.org",
        "m-2",
        now,
        &signer,
    );
    let delivery = (Provider::Ses.info().unwrap().inbound.unwrap().simulate)(&sim).unwrap();
    let request = email_webhooks::Request::new(&delivery.headers, &delivery.body);
    let url: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
    let url = url["SigningCertURL"].as_str().unwrap().to_owned();

    // The first certificate pinned by settings: refused.
    let pinned = InboundProviders::new()
        .with(Provider::Ses, &verifying(Provider::Ses))
        .unwrap();
    let refused = pinned.receive("ses", &request).await.unwrap().unwrap_err();
    assert_eq!(refused.http_status(), 401, "{refused:?}");

    // Certificates by URL (here a fixed set; in production fetched over
    // HTTPS): verified, and read as inbound mail.
    let certificates = StaticCertificates::new()
        .with(
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-first.pem",
            include_bytes!("data/sns-test-cert.pem").to_vec(),
        )
        .with(&url, include_bytes!("data/sns-test-cert-2.pem").to_vec());
    let by_url = InboundProviders::new()
        .with_verifier(SesVerifier::new(SnsVerifier::new(certificates, [topic])))
        .unwrap();
    let messages = by_url.receive("ses", &request).await.unwrap().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].envelope_recipient.as_deref(),
        Some("support@example.org")
    );
    // Still a signature check: tampered, refused.
    let forged =
        (Provider::Ses.info().unwrap().inbound.unwrap().simulate)(&sim.tampered()).unwrap();
    let forged = email_webhooks::Request::new(&forged.headers, &forged.body);
    assert!(by_url.receive("ses", &forged).await.unwrap().is_err());
}

/// `with_verifier` takes an event verifier only for a provider whose event
/// verifier authenticates its inbound deliveries as they come
/// (`InboundInfo::by_event_verifier`). A Mailgun event verifier refused
/// Mailgun's route forms (no `event` field) and let a captured signature
/// carry any number of fresh single-use tokens; such a verifier is now
/// refused at setup, and settings configure those routes.
#[test]
fn with_verifier_refuses_providers_not_authenticated_by_their_event_verifier() {
    use email_webhooks::Secret;
    use email_webhooks::provider::SetupError;
    use email_webhooks::provider::mailgun::MailgunVerifier;
    let mailgun = MailgunVerifier::new(Secret::from_bytes("key-0123456789").unwrap());
    let err = InboundProviders::new().with_verifier(mailgun).unwrap_err();
    assert_eq!(err, SetupError::InboundNeedsSettings("mailgun"));
}

/// `by_event_verifier` says whether a provider's event verifier (built
/// from the same settings) takes its inbound delivery as it comes, with no
/// single-use token that the inbound reading would have to spend: checked
/// both ways on each provider's simulated delivery. Postal is the one
/// exception the simulation cannot show: its raw-message format carries
/// no signed time, which the event verifier requires, so it is not marked
/// although the simulated (hash) delivery passes.
#[tokio::test]
async fn by_event_verifier_holds_for_each_inbound_provider() {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut checked = 0;
    for provider in Provider::ALL {
        let Some(inbound) = provider.info().and_then(|i| i.inbound) else {
            continue;
        };
        let (send, verify) = (sending(*provider), verifying(*provider));
        let sim = Simulation::new(EventKind::Inbound, "support@example.org", "m-1", now, &send);
        let d = (inbound.simulate)(&sim).unwrap();
        let base = verify.url.clone().unwrap();
        let url = d
            .query
            .as_ref()
            .map_or(base.clone(), |q| format!("{base}?{q}"));
        let request = email_webhooks::Request::new(&d.headers, &d.body).with_url(&url);
        let verifier = (provider.info().unwrap().build)(&verify).unwrap();
        let received = verifier.receive_boxed(&request).await;
        let takes = matches!(&received, Ok(r) if r.token.is_none());
        if inbound.by_event_verifier {
            // And the inbound route so configured reads the delivery.
            let route = InboundProviders::new()
                .with_verifier((provider.info().unwrap().build)(&verify).unwrap())
                .unwrap()
                .with_content_source(served());
            let messages = route.receive(provider.as_str(), &request).await.unwrap();
            assert!(!messages.unwrap().is_empty(), "{provider}");
        }
        if *provider == Provider::Postal {
            assert!(!inbound.by_event_verifier);
        } else {
            assert_eq!(
                inbound.by_event_verifier,
                takes,
                "{provider}: {:?}",
                received.err()
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 12);
}

/// The inbound routes of both adapters, with peer addresses, for `inbound`.
async fn start_both_with_peers(inbound: &Arc<InboundProviders>) -> [(String, Log); 2] {
    let (seen, fail) = (Seen::default(), Arc::new(AtomicBool::new(false)));
    let log: Log = Arc::default();
    let observed = Arc::clone(&log);
    let router = email_webhooks::adapters::axum::inbound_router(
        Arc::clone(inbound),
        Arc::new(MemoryStore::new()),
        recorder(&seen, &fail),
        move |handled: &Handled| observed.lock().unwrap().push(handled.clone()),
    )
    .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    [(addr, log), start_actix(Arc::clone(inbound), &seen, &fail)]
}

/// The inbound route applies a provider's source allowlist and the
/// route's rate limit as the events route does (it applied neither): a
/// source outside the list is refused `source_not_allowed` and nothing is
/// handled; refusals are charged to their source, 429 past the budget,
/// and a genuine delivery from the same source still goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_routes_apply_allowlists_and_rate_limits() {
    use email_webhooks::allowlist::SourceAllowlist;
    use email_webhooks::ratelimit::RateLimit;
    let postmark = || {
        InboundProviders::new()
            .with(Provider::Postmark, &verifying(Provider::Postmark))
            .unwrap()
    };
    let path = "/webhooks/postmark/inbound";
    // Loopback is not on the list: refused, whoever authenticates.
    let elsewhere = SourceAllowlist::parse(["192.0.2.0/24"]).unwrap();
    let inbound = Arc::new(postmark().with_sources(Provider::Postmark, elsewhere));
    for (addr, log) in start_both_with_peers(&inbound).await {
        let d = simulated(Provider::Postmark, "attempt-1", false);
        let status = post(&addr, path, &d.headers, &d.body).await;
        let last = log.lock().unwrap().last().cloned().unwrap();
        assert_ne!(status, 200, "{addr}");
        assert_eq!(last.error_code, Some("source_not_allowed"), "{addr}");
        assert_eq!(last.handled, 0, "{addr}");
    }
    // Loopback listed: accepted.
    let here = SourceAllowlist::parse(["127.0.0.1/32"]).unwrap();
    let inbound = Arc::new(postmark().with_sources(Provider::Postmark, here));
    for (addr, _) in start_both_with_peers(&inbound).await {
        let d = simulated(Provider::Postmark, "attempt-1", false);
        assert_eq!(post(&addr, path, &d.headers, &d.body).await, 200, "{addr}");
    }
    // Two refusals a minute: the third is 429, a genuine delivery is not.
    // Each adapter with a limit of its own (one limit is one budget).
    let two = std::num::NonZeroU32::new(2).unwrap();
    for which in 0..2 {
        let inbound = Arc::new(postmark().with_rate_limit(RateLimit::per_minute(two)));
        let [axum, actix] = start_both_with_peers(&inbound).await;
        let (addr, log) = if which == 0 { axum } else { actix };
        let forged = simulated(Provider::Postmark, "attempt-1", true);
        for n in 0..3 {
            let status = post(&addr, path, &forged.headers, &forged.body).await;
            let code = log.lock().unwrap().last().unwrap().error_code;
            if n < 2 {
                assert_eq!((status, code), (401, Some("unauthorized")), "{addr} #{n}");
            } else {
                assert_eq!((status, code), (429, Some("rate_limited")), "{addr} #{n}");
            }
        }
        let genuine = simulated(Provider::Postmark, "attempt-2", false);
        let status = post(&addr, path, &genuine.headers, &genuine.body).await;
        assert_eq!(status, 200, "{addr}");
    }
}

/// The topic SES publishes inbound mail to in these tests, and the URL SNS
/// names to confirm a subscription to it.
const SNS_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:inbound";
const SNS_CONFIRM: &str =
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=inbound&Token=tok";

/// An SNS `kind` message (`SubscriptionConfirmation`,
/// `UnsubscribeConfirmation`) for [`SNS_TOPIC`], signed with the test
/// certificate's key: its headers and body.
fn sns_control(kind: &str) -> (Vec<(String, String)>, Vec<u8>) {
    use email_webhooks::provider::sns::{SigningCertUrl, SnsSigner};
    let cert_url = SigningCertUrl::parse(
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
    )
    .unwrap();
    let signer = SnsSigner::from_pkcs8(include_bytes!("data/sns-test-key.pk8"), cert_url).unwrap();
    let body = signer
        .sign(serde_json::json!({
            "Type": kind,
            "MessageId": format!("m-{kind}"),
            "Token": "tok",
            "TopicArn": SNS_TOPIC,
            "Message": "You have chosen to subscribe to the topic.",
            "SubscribeURL": SNS_CONFIRM,
            "Timestamp": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
            "SignatureVersion": "2",
        }))
        .unwrap();
    let headers = vec![
        (
            "Content-Type".to_owned(),
            "text/plain; charset=UTF-8".to_owned(),
        ),
        ("x-amz-sns-message-type".to_owned(), kind.to_owned()),
    ];
    (headers, body)
}

/// SNS asks the inbound route to confirm the receipt rule's topic
/// subscription: answered 200, nothing handled, and the confirmation
/// reported to the observer as the events route reports it (it was
/// acknowledged silently: the subscription stayed pending, and no mail
/// ever arrived). Never confirmed automatically; a forged one is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_subscription_confirmation_on_the_inbound_route_is_reported() {
    use email_webhooks::provider::Control;
    let (headers, body) = sns_control("SubscriptionConfirmation");
    let (seen, fail) = (Seen::default(), Arc::new(AtomicBool::new(false)));
    let axum = start_axum(configured(limits()), &seen, &fail).await;
    let actix = start_actix(configured(limits()), &seen, &fail);
    for (addr, log) in [axum, actix] {
        let status = post(&addr, "/webhooks/ses/inbound", &headers, &body).await;
        assert_eq!(status, 200, "{addr}");
        let last = log.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.handled, 0, "{addr}");
        match &last.control {
            Some(Control::SubscriptionConfirmation {
                topic_arn,
                subscribe_url,
            }) => {
                assert_eq!(topic_arn, SNS_TOPIC);
                assert_eq!(subscribe_url.as_str(), SNS_CONFIRM);
            }
            other => panic!("{addr}: {other:?}"),
        }
        // Forged (the URL changed after signing): refused.
        let forged = String::from_utf8(body.clone())
            .unwrap()
            .replace("Token=tok", "Token=other");
        let status = post(&addr, "/webhooks/ses/inbound", &headers, forged.as_bytes()).await;
        assert_eq!(status, 401, "{addr}");
    }
    assert!(seen.lock().unwrap().is_empty());
}

/// The receiver itself reports an SNS control message in both modes, built
/// from settings and from a verifier that fetches certificates by URL; an
/// unsubscription confirmation too.
#[tokio::test]
async fn the_inbound_receiver_reports_sns_control_messages_in_both_modes() {
    use email_webhooks::provider::Control;
    use email_webhooks::provider::ses::SesVerifier;
    use email_webhooks::provider::sns::{SnsVerifier, StaticCertificates};
    let certificates = StaticCertificates::new().with(
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
        include_bytes!("data/sns-test-cert.pem").to_vec(),
    );
    let by_url = InboundProviders::new()
        .with_verifier(SesVerifier::new(SnsVerifier::new(
            certificates,
            [SNS_TOPIC],
        )))
        .unwrap();
    let store = MemoryStore::new();
    let queue = email_webhooks::queue::MemoryQueue::new();
    let handler = |_| std::future::ready(Ok::<(), String>(()));
    let (headers, body) = sns_control("SubscriptionConfirmation");
    let (unsubscribing, unsubscribed) = sns_control("UnsubscribeConfirmation");
    for receiver in [&*configured(limits()), &by_url] {
        let request = email_webhooks::Request::new(&headers, &body);
        let ran = receiver.run("ses", &request, &store, handler).await;
        let queued = receiver.hand_off("ses", &request, &store, &queue).await;
        for outcome in [ran.unwrap().unwrap(), queued.unwrap().unwrap()] {
            assert_eq!((outcome.handled, outcome.enqueued), (0, 0));
            assert!(
                matches!(&outcome.control, Some(Control::SubscriptionConfirmation { topic_arn, .. }) if topic_arn == SNS_TOPIC),
                "{outcome:?}"
            );
        }
        let request = email_webhooks::Request::new(&unsubscribing, &unsubscribed);
        let ran = receiver.run("ses", &request, &store, handler).await;
        let ran = ran.unwrap().unwrap();
        assert!(
            matches!(&ran.control, Some(Control::UnsubscribeConfirmation { topic_arn }) if topic_arn == SNS_TOPIC),
            "{ran:?}"
        );
    }
}
