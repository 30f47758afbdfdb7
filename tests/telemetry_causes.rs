//! What an operator sees when PostgreSQL has no tables (`create_table()`
//! was never called): each 503 the receiver answers and each failed queue
//! call of a worker is logged at WARN with its cause, the database's own
//! words, at most once a second however often it repeats, and counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "queues/engines.rs"]
mod engines;

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
use email_webhooks::queue::PostgresQueue;
use email_webhooks::worker::Worker;
use email_webhooks::{BasicAuth, EventKind};
use http::{Buffer, post};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_tables_is_logged_with_its_cause_once_a_second() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    // A fresh database, and no `create_table()`.
    let config = engines::postgres_database("EMAIL_WEBHOOKS_TEST_POSTGRES_URL").await;
    let queue = PostgresQueue::connect(&config).unwrap();

    let providers = Providers::new().with(MailjetVerifier::new(BasicAuth::parse("mj:pw").unwrap()));
    let pipeline = Arc::new(Pipeline::new(providers, MemoryStore::new()));
    let router = webhooks_handoff_router(pipeline, queue.clone(), |_| {}).layer(axum::Extension(
        PublicUrl::new("https://hooks.example.com").unwrap(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let mut settings = Settings::new();
    settings.basic_auth.push("mj:pw".into());
    let simulate = Provider::Mailjet.info().unwrap().simulate;
    for n in 0..5 {
        let d = simulate(&Simulation::new(
            EventKind::Opened,
            "a@example.com",
            &format!("c-{n}"),
            1_800_000_000,
            &settings,
        ))
        .unwrap();
        assert_eq!(
            post(&addr, "/webhooks/mailjet", &d.headers, &d.body).await,
            503
        );
    }
    // A worker polling the same queue for a second.
    let worker = Worker::new(queue).with_poll_interval(Duration::from_millis(20));
    let report = tokio::time::timeout(
        Duration::from_millis(1_100),
        worker.run(|_| async { Ok::<(), String>(()) }, std::future::pending()),
    )
    .await;
    assert!(
        report.is_err(),
        "the worker keeps going through the failures"
    );

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("webhook delivery failed"))
        .collect();
    // Five 503s within a second: one line, which names the cause.
    assert_eq!(failed.len(), 1, "{text}");
    assert!(failed[0].contains("WARN"), "{}", failed[0]);
    assert!(failed[0].contains("store_unavailable"), "{}", failed[0]);
    assert!(
        failed[0].contains("does not exist"),
        "the database's words: {}",
        failed[0]
    );
    // The worker's claims, failing every 20 ms: one or two lines a second,
    // each with the cause and how many it held back.
    let claims: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("queue call failed"))
        .collect();
    assert!((1..=3).contains(&claims.len()), "{claims:#?}");
    assert!(claims[0].contains("does not exist"), "{}", claims[0]);
    assert!(claims[0].contains("WARN"), "{}", claims[0]);
    if let Some(later) = claims.get(1) {
        assert!(!later.contains("suppressed=0"), "{later}");
    }
}
