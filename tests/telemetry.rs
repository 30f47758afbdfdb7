//! What the `tracing` and `metrics` features emit, read back through a
//! subscriber and a recorder: a span and an event per delivery with the
//! provider and outcome code, counters for verified and refused deliveries
//! (by code), enqueued events and settled jobs, the queue-lag histogram;
//! and never a secret, a body, a recipient or a peer address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/http.rs"]
mod http;

use std::sync::Arc;
use std::time::Duration;

use email_webhooks::adapters::PublicUrl;
use email_webhooks::adapters::axum::webhooks_handoff_router;
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::mailjet::MailjetVerifier;
use email_webhooks::provider::{Provider, Providers, Settings, Simulation};
use email_webhooks::queue::MemoryQueue;
use email_webhooks::worker::Worker;
use email_webhooks::{BasicAuth, EventKind};
use http::{Buffer, post};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

const PASSWORD: &str = "telemetry-password-xyzzy";
const RECIPIENT: &str = "very-private-recipient@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // One scenario, then everything it emitted read back.
async fn deliveries_and_jobs_are_traced_and_counted_without_secrets_or_addresses() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let logs = Buffer::default();
    let writer = logs.clone();
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        // INFO, and the per-event lines (DEBUG) of this crate.
        let filter = tracing_subscriber::filter::Targets::new()
            .with_default(tracing::Level::INFO)
            .with_target("email_webhooks::event", tracing::Level::DEBUG);
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            )
            .with(filter)
            .init();
    }

    let queue = Arc::new(MemoryQueue::new());
    let providers = Providers::new().with(MailjetVerifier::new(
        BasicAuth::parse(&format!("mj:{PASSWORD}")).unwrap(),
    ));
    let pipeline = Arc::new(Pipeline::new(providers, MemoryStore::new()));
    let router = webhooks_handoff_router(pipeline, queue.clone(), |_| {})
        .layer(axum::Extension(
            PublicUrl::new("https://hooks.example.com").unwrap(),
        ))
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let mut settings = Settings::new();
    settings.basic_auth.push(format!("mj:{PASSWORD}"));
    let simulate = Provider::Mailjet.info().unwrap().simulate;
    let good = simulate(&Simulation::new(
        EventKind::Bounced,
        RECIPIENT,
        "t-1",
        1_800_000_000,
        &settings,
    ))
    .unwrap();
    let bad = simulate(
        &Simulation::new(
            EventKind::Bounced,
            RECIPIENT,
            "t-2",
            1_800_000_000,
            &settings,
        )
        .tampered(),
    )
    .unwrap();
    assert_eq!(
        post(&addr, "/webhooks/mailjet", &good.headers, &good.body).await,
        200
    );
    assert_eq!(
        post(&addr, "/webhooks/mailjet", &good.headers, &good.body).await,
        200
    );
    assert_eq!(
        post(&addr, "/webhooks/mailjet", &bad.headers, &bad.body).await,
        401
    );
    let key = std::sync::Mutex::new(String::new());
    let report = Worker::new(queue.clone())
        .with_poll_interval(Duration::from_millis(10))
        .run_until_idle(|event| {
            *key.lock().unwrap() = event.idempotency_key();
            async { Ok::<(), String>(()) }
        })
        .await;
    assert_eq!(report.handled, 1);
    let key = key.into_inner().unwrap();

    // A worker that crashed holding a job: its claim lapses, and the next
    // worker's takeover is logged and counted.
    let mut crashed = email_webhooks::EmailEvent::new(
        email_webhooks::Provider::Mailjet,
        EventKind::Delivered,
        serde_json::value::RawValue::from_string("{}".to_owned()).unwrap(),
    );
    crashed.event_id = Some("crashed-worker".to_owned());
    let crashed_key = crashed.idempotency_key();
    let job = email_webhooks::queue::NewJob::for_event(&crashed).unwrap();
    email_webhooks::queue::Queue::enqueue(&queue, &[job])
        .await
        .unwrap();
    let claimed = email_webhooks::queue::Queue::claim(&queue, 1, Duration::from_millis(30))
        .await
        .unwrap();
    assert!(!claimed[0].taken_over);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = Worker::new(queue.clone())
        .with_poll_interval(Duration::from_millis(10))
        .run_until_idle(|_| async { Ok::<(), String>(()) })
        .await;
    assert_eq!((report.handled, report.taken_over), (1, 1));

    // Inbound mail: each message's key digest and fate, under the
    // delivery's span, as for events.
    let inbound_key = Arc::new(std::sync::Mutex::new(String::new()));
    let mut postmark = Settings::new();
    postmark.basic_auth.push(format!("pm:{PASSWORD}"));
    let inbound = email_webhooks::inbound::InboundProviders::new()
        .with(Provider::Postmark, &postmark)
        .unwrap();
    let on_message = inbound_key.clone();
    let inbound_router = email_webhooks::adapters::axum::inbound_router(
        Arc::new(inbound),
        Arc::new(MemoryStore::new()),
        move |message: email_webhooks::InboundMessage| {
            *on_message.lock().unwrap() = message.idempotency_key();
            async { Ok::<(), String>(()) }
        },
        |_| {},
    )
    .layer(axum::Extension(
        PublicUrl::new("https://hooks.example.com").unwrap(),
    ));
    let inbound_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inbound_url = format!(
        "http://{}/webhooks/postmark/inbound",
        inbound_listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(inbound_listener, inbound_router).await.unwrap() });
    let mail = (Provider::Postmark.info().unwrap().inbound.unwrap().simulate)(&Simulation::new(
        EventKind::Inbound,
        RECIPIENT,
        "m-1",
        1_800_000_000,
        &postmark,
    ))
    .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let mut request = client.post(&inbound_url).body(mail.body.clone());
        for (name, value) in &mail.headers {
            request = request.header(name, value);
        }
        assert_eq!(request.send().await.unwrap().status().as_u16(), 200);
    }
    let inbound_key = inbound_key.lock().unwrap().clone();
    assert!(!inbound_key.is_empty());

    // Metrics.
    let snapshot = snapshotter.snapshot().into_vec();
    let counter = |name: &str, labels: &[(&str, &str)]| -> u64 {
        snapshot
            .iter()
            .filter(|(key, _, _, _)| {
                key.key().name() == name
                    && labels
                        .iter()
                        .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
            })
            .map(|(_, _, _, value)| match value {
                DebugValue::Counter(n) => *n,
                _ => 0,
            })
            .sum()
    };
    assert_eq!(
        counter("email_webhooks_verified_total", &[("provider", "mailjet")]),
        2
    );
    assert_eq!(
        counter(
            "email_webhooks_refused_total",
            &[("provider", "mailjet"), ("code", "unauthorized")]
        ),
        1
    );
    assert_eq!(
        counter("email_webhooks_enqueued_total", &[("provider", "mailjet")]),
        1
    );
    assert_eq!(
        counter(
            "email_webhooks_duplicates_total",
            &[("provider", "mailjet")]
        ),
        1
    );
    assert_eq!(
        counter("email_webhooks_jobs_total", &[("outcome", "handled")]),
        2
    );
    assert_eq!(counter("email_webhooks_takeovers_total", &[]), 1);
    // The queue's gauges, recorded by the workers as they started.
    let gauge = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let matches = key.key().name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v));
            match value {
                DebugValue::Gauge(g) if matches => Some(g.into_inner()),
                _ => None,
            }
        })
    };
    for state in ["ready", "running"] {
        assert!(
            gauge("email_webhooks_queue_jobs", &[("state", state)]).is_some(),
            "no {state} gauge"
        );
    }
    assert_eq!(
        gauge("email_webhooks_queue_jobs", &[("state", "dead")]),
        Some(0.0)
    );
    let oldest = gauge("email_webhooks_queue_oldest_ready_seconds", &[]).unwrap();
    assert!((0.0..60.0).contains(&oldest), "{oldest}");
    let histograms: Vec<String> = snapshot
        .iter()
        .filter(|(_, _, _, value)| matches!(value, DebugValue::Histogram(v) if !v.is_empty()))
        .map(|(key, _, _, _)| key.key().name().to_owned())
        .collect();
    for name in [
        "email_webhooks_queue_lag_seconds",
        "email_webhooks_delivery_seconds",
        "email_webhooks_handler_seconds",
        "email_webhooks_enqueue_seconds",
    ] {
        assert!(
            histograms.iter().any(|h| h == name),
            "{name} in {histograms:?}"
        );
    }

    // Traces.
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("email_webhooks.delivery"), "{text}");
    assert!(
        text.contains("provider=\"mailjet\"") || text.contains("provider=mailjet"),
        "{text}"
    );
    assert!(
        text.contains("code=\"unauthorized\"") || text.contains("code=unauthorized"),
        "{text}"
    );
    assert!(
        text.contains("outcome=\"handled\"") || text.contains("outcome=handled"),
        "{text}"
    );
    // The settled job: its provider, its first attempt counted as 1, and
    // its key as a digest (the key itself holds the recipient).
    let settled = text
        .lines()
        .find(|line| line.contains("job settled"))
        .unwrap_or_else(|| panic!("no settled job in:\n{text}"));
    assert!(
        settled.contains("provider=\"mailjet\"") || settled.contains("provider=mailjet"),
        "{settled}"
    );
    assert!(settled.contains("attempt=1"), "{settled}");
    let digest_of = |key: &str| {
        use sha2::Digest as _;
        use std::fmt::Write as _;
        let hash = sha2::Sha256::digest(key.as_bytes());
        hash[..6].iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
    };
    let digest = digest_of(&key);
    assert!(settled.contains(&format!("key={digest}")), "{settled}");
    // The same key's digest in the delivery that brought it, under the
    // delivery's span (its provider and delivery id); the redelivery is a
    // duplicate in a delivery of another id.
    let received: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("event received") && line.contains(&digest))
        .collect();
    assert_eq!(received.len(), 2, "{text}");
    assert!(
        received[0].contains("outcome=\"enqueued\"") || received[0].contains("outcome=enqueued"),
        "{}",
        received[0]
    );
    assert!(
        received[1].contains("outcome=\"duplicate\"") || received[1].contains("outcome=duplicate"),
        "{}",
        received[1]
    );
    let delivery_of = |line: &str| -> String {
        let at = line
            .find("delivery=")
            .unwrap_or_else(|| panic!("no delivery id: {line}"));
        line[at + 9..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect()
    };
    let (first, second) = (delivery_of(received[0]), delivery_of(received[1]));
    let mail_lines: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("event received") && line.contains(&digest_of(&inbound_key)))
        .collect();
    assert_eq!(mail_lines.len(), 2, "{text}");
    assert!(
        mail_lines[0].contains("claimed") && mail_lines[1].contains("duplicate"),
        "{mail_lines:?}"
    );
    assert!(
        mail_lines.iter().all(
            |line| line.contains("provider=postmark") || line.contains("provider=\"postmark\"")
        ),
        "{mail_lines:?}"
    );
    assert_eq!(first.len(), 12, "{first}");
    assert_ne!(first, second, "each delivery has its own id");
    assert!(
        text.lines()
            .any(|line| line.contains("webhook delivery")
                && line.contains(&format!("delivery={first}"))),
        "the delivery's summary line carries its id:\n{text}"
    );
    // The takeover: at WARN, with the job's provider, key digest and
    // attempt (the lapsed claim counted as the first).
    let takeover = text
        .lines()
        .find(|line| line.contains("job taken over"))
        .unwrap_or_else(|| panic!("no takeover in:\n{text}"));
    assert!(takeover.contains("WARN"), "{takeover}");
    assert!(takeover.contains("attempt=2"), "{takeover}");
    assert!(
        takeover.contains(&format!("key={}", digest_of(&crashed_key))),
        "{takeover}"
    );
    let body = String::from_utf8_lossy(&good.body);
    for secret in [
        PASSWORD,
        RECIPIENT,
        "127.0.0.1",
        "Basic ",
        body.as_ref(),
        key.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret:?} in the logs:\n{text}");
    }
}
