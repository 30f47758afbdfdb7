//! Start a follow-up when a message is opened within 24 hours of its
//! delivery.
//!
//! Deliveries are handed off to a durable SQLite queue; one worker keeps,
//! in its own SQLite database, when each message was delivered, and on an
//! open within a day of it starts a follow-up (here: a row in a
//! `follow_ups` table, keyed by the message, so an open handled twice or a
//! second open starts nothing more). Opens after a day, and messages never
//! opened, start none.
//!
//! Run: `cargo run --example follow_up_on_open --features sqlite`

use std::sync::Mutex;
use std::time::Duration;

use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::postmark::PostmarkVerifier;
use email_webhooks::provider::{Provider, Settings, Simulation};
use email_webhooks::queue::SqliteQueue;
use email_webhooks::rusqlite::{Connection, params};
use email_webhooks::worker::Worker;
use email_webhooks::{BasicAuth, EmailEvent, EventKind, Request};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS delivered (message TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS follow_ups (message TEXT PRIMARY KEY, recipient TEXT NOT NULL, opened_after INTEGER NOT NULL);
";

/// A day, in seconds: the window for an open to start a follow-up.
const WINDOW: i64 = 24 * 3600;

fn apply(db: &Connection, event: &EmailEvent) -> email_webhooks::rusqlite::Result<()> {
    let (Some(message), Some(at)) = (&event.message_id, event.timestamp) else {
        return Ok(());
    };
    let at = at.unix_timestamp();
    match event.kind {
        EventKind::Delivered => {
            db.execute(
                "INSERT OR IGNORE INTO delivered (message, at) VALUES (?1, ?2)",
                params![message, at],
            )?;
        }
        EventKind::Opened => {
            // Only within the window after the delivery; only once.
            db.execute(
                "INSERT OR IGNORE INTO follow_ups (message, recipient, opened_after)
                 SELECT message, ?2, ?3 - at FROM delivered
                 WHERE message = ?1 AND ?3 - at BETWEEN 0 AND ?4",
                params![message, event.recipient, at, WINDOW],
            )?;
        }
        _ => {}
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("email-webhooks-follow-up-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let queue = SqliteQueue::open(dir.join("queue.db"))?;
    let db = Connection::open(dir.join("follow-ups.db"))?;
    db.execute_batch(SCHEMA)?;
    let pipeline = Pipeline::new(
        PostmarkVerifier::new(BasicAuth::parse("postmark:example-password")?),
        MemoryStore::new(),
    );
    let mut settings = Settings::new();
    settings.basic_auth.push("postmark:example-password".into());
    let simulate = Provider::Postmark.info().ok_or("registered")?.simulate;
    let t0 = time::OffsetDateTime::now_utc().unix_timestamp() - 3 * WINDOW;
    let hour = 3600;
    // (kind, recipient, message id, time): Postmark's event for a message
    // carries its MessageID.
    let deliveries = [
        (EventKind::Delivered, "ada@example.com", "msg-ada", t0),
        (EventKind::Delivered, "grace@example.com", "msg-grace", t0),
        (EventKind::Delivered, "alan@example.com", "msg-alan", t0),
        (
            EventKind::Opened,
            "ada@example.com",
            "msg-ada",
            t0 + 2 * hour,
        ),
        (
            EventKind::Opened,
            "ada@example.com",
            "msg-ada",
            t0 + 3 * hour,
        ),
        (
            EventKind::Opened,
            "grace@example.com",
            "msg-grace",
            t0 + 30 * hour,
        ),
    ];
    let runtime = tokio::runtime::Runtime::new()?;
    for (kind, recipient, message, at) in deliveries {
        let delivery = simulate(&Simulation::new(kind, recipient, message, at, &settings))?;
        let request = Request::new(&delivery.headers, &delivery.body);
        runtime.block_on(pipeline.hand_off(&request, &queue))?;
    }
    let db = Mutex::new(db);
    let report = runtime.block_on(
        Worker::new(queue)
            .with_concurrency(1) // deliveries before their opens, in order
            .with_poll_interval(Duration::from_millis(20))
            .run_until_idle(|event| {
                let applied = db
                    .lock()
                    .map_err(|_| "poisoned".to_owned())
                    .and_then(|db| apply(&db, &event).map_err(|e| e.to_string()));
                std::future::ready(applied)
            }),
    );
    println!("worker: {report:?}");
    let db = db.into_inner().map_err(|_| "poisoned")?;
    let mut select =
        db.prepare("SELECT recipient, opened_after FROM follow_ups ORDER BY recipient")?;
    let follow_ups: Vec<(String, i64)> = select
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (recipient, after) in &follow_ups {
        println!(
            "follow-up for {recipient}: opened {} h after delivery",
            after / hour
        );
    }
    drop(select);
    std::fs::remove_dir_all(&dir)?;
    // Ada opened within a day (twice: one follow-up); Grace after 30 hours
    // and Alan never: none.
    if follow_ups == [("ada@example.com".to_owned(), 2 * hour)] {
        println!("one follow-up, for the open within 24 hours");
        Ok(())
    } else {
        Err(format!("unexpected follow-ups: {follow_ups:?}").into())
    }
}
