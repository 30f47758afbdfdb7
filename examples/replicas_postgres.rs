//! Many replicas on one PostgreSQL: two receivers and two workers.
//!
//! Each receiver is its own `Pipeline` with its own connection pool to the
//! same database (as two processes behind a load balancer would be); each
//! worker claims from the same outbox table (`FOR UPDATE SKIP LOCKED`).
//! Postmark deliveries arrive at either receiver, and the provider's
//! redelivery of a batch lands on the other one: it is a duplicate there
//! too, since the queue is keyed by the events' idempotency keys. Every
//! event is handled exactly once, by one of the two workers.
//!
//! The queue's table is created at start-up (`create_table`, idempotent):
//! run it once per database before the replicas serve (a `PostgresStore`,
//! for the handler-in-request mode, has its own `create_table`).
//!
//! Run with a database you can write to:
//! `EMAIL_WEBHOOKS_TEST_POSTGRES_URL="host=127.0.0.1 user=postgres" cargo run --example replicas_postgres --features postgres`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::postmark::PostmarkVerifier;
use email_webhooks::provider::{Provider, Settings, Simulation};
use email_webhooks::queue::PostgresQueue;
use email_webhooks::worker::Worker;
use email_webhooks::{BasicAuth, EventKind, Request};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("EMAIL_WEBHOOKS_TEST_POSTGRES_URL")
        .map_err(|_| "set EMAIL_WEBHOOKS_TEST_POSTGRES_URL to a PostgreSQL connection string")?;
    let runtime = tokio::runtime::Runtime::new()?;
    // A database of this run's own, so that it meets no other queue.
    let database = format!("replicas_example_{}", std::process::id());
    let admin = |sql: String| {
        let url = url.clone();
        async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            client.batch_execute(&sql).await
        }
    };
    runtime.block_on(admin(format!("CREATE DATABASE {database}")))?;
    let own = format!("{url} dbname={database}");
    let (queue_a, queue_b) = (PostgresQueue::connect(&own)?, PostgresQueue::connect(&own)?);
    runtime.block_on(queue_a.create_table())?;

    // The receivers: the same configuration, each its own pipeline.
    let receiver = || -> Result<_, Box<dyn std::error::Error>> {
        Ok(Pipeline::new(
            PostmarkVerifier::new(BasicAuth::parse("postmark:example-password")?),
            MemoryStore::new(),
        ))
    };
    let (receiver_a, receiver_b) = (receiver()?, receiver()?);
    let mut settings = Settings::new();
    settings.basic_auth.push("postmark:example-password".into());
    let simulate = Provider::Postmark.info().ok_or("registered")?.simulate;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut answered = (0, 0);
    for i in 0..20 {
        let kind = [EventKind::Delivered, EventKind::Opened, EventKind::Clicked][i % 3];
        let recipient = format!("user{i}@example.com");
        let id = format!("replica-{i}");
        let at = now + i64::try_from(i)?;
        let delivery = simulate(&Simulation::new(kind, &recipient, &id, at, &settings))?;
        let request = Request::new(&delivery.headers, &delivery.body);
        // First to one receiver; its redelivery to the other.
        let (first, second) = if i % 2 == 0 {
            ((&receiver_a, &queue_a), (&receiver_b, &queue_b))
        } else {
            ((&receiver_b, &queue_b), (&receiver_a, &queue_a))
        };
        let new = runtime.block_on(first.0.hand_off(&request, first.1))?;
        let again = runtime.block_on(second.0.hand_off(&request, second.1))?;
        answered.0 += new.enqueued;
        answered.1 += again.duplicates;
    }
    println!(
        "20 deliveries: {} enqueued; their redeliveries to the other receiver: {} duplicates",
        answered.0, answered.1
    );

    // The workers, side by side on the same table.
    let handled: Arc<Mutex<HashMap<String, (usize, char)>>> = Arc::default();
    let worker = |queue: PostgresQueue, name: char| {
        let handled = Arc::clone(&handled);
        async move {
            Worker::new(queue)
                .with_concurrency(4)
                .with_poll_interval(Duration::from_millis(20))
                .run_until_idle(move |event| {
                    let mut handled = handled.lock().map_err(|_| "poisoned".to_owned());
                    if let Ok(handled) = handled.as_mut() {
                        handled
                            .entry(event.idempotency_key())
                            .or_insert((0, name))
                            .0 += 1;
                    }
                    std::future::ready(handled.map(|_| ()))
                })
                .await
        }
    };
    let (report_a, report_b) =
        runtime.block_on(async { tokio::join!(worker(queue_a, 'A'), worker(queue_b, 'B')) });
    let handled = handled.lock().map_err(|_| "poisoned")?.clone();
    let by_a = handled.values().filter(|(_, w)| *w == 'A').count();
    println!("worker A: {report_a:?}\nworker B: {report_b:?}");
    println!(
        "{} events handled, {by_a} by A and {} by B",
        handled.len(),
        handled.len() - by_a
    );
    runtime.block_on(admin(format!(
        "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
    )))?;
    if answered == (20, 20) && handled.len() == 20 && handled.values().all(|(n, _)| *n == 1) {
        println!("every event handled exactly once across the replicas");
        Ok(())
    } else {
        Err(format!("unexpected: answered {answered:?}, handled {handled:?}").into())
    }
}
