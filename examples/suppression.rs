//! Keep a suppression list from webhooks: bounces, complaints and unsubscribes.
//!
//! Deliveries are handed off to a durable SQLite queue (answered at once);
//! a worker reads each event's [`EmailEvent::suppression`] and keeps a
//! `suppressions` table in its own SQLite database: hard bounces,
//! complaints and unsubscribes suppress the address at once, soft bounces
//! after [`SoftBouncePolicy`]'s count in a row (a delivery or open resets
//! it). Suppressions and soft bounces are written keyed by the event's
//! idempotency key, so an event handled twice (its worker died before
//! completing it) adds nothing the second time. (A delivery or open run
//! again after later soft bounces would clear those bounces: keep a
//! per-address sequence if your handler must be order-proof as well.)
//!
//! Run: `cargo run --example suppression --features sqlite`

use std::sync::Mutex;
use std::time::Duration;

use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::mailjet::MailjetVerifier;
use email_webhooks::provider::{Provider, Settings, Simulation};
use email_webhooks::queue::SqliteQueue;
use email_webhooks::rusqlite::{Connection, OptionalExtension as _, params};
use email_webhooks::worker::Worker;
use email_webhooks::{BasicAuth, EmailEvent, EventKind, Request, SoftBouncePolicy, Suppression};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS suppressions (
    address TEXT PRIMARY KEY,
    reason  TEXT NOT NULL,
    event   TEXT NOT NULL
);
-- Soft bounces in a row per address; each message counted once (providers
-- report every retried attempt), by its id, else by the event's key.
CREATE TABLE IF NOT EXISTS soft_bounces (
    key     TEXT PRIMARY KEY,
    address TEXT NOT NULL
);
";

/// Applies one event to the suppression list, idempotently.
fn apply(
    db: &mut Connection,
    event: &EmailEvent,
    policy: SoftBouncePolicy,
) -> email_webhooks::rusqlite::Result<()> {
    let Some(address) = event.recipient.as_deref().map(str::to_lowercase) else {
        return Ok(());
    };
    let key = event.idempotency_key();
    let tx = db.transaction()?;
    match event.suppression() {
        Suppression::Stop(reason) => {
            tx.execute(
                "INSERT OR IGNORE INTO suppressions (address, reason, event) VALUES (?1, ?2, ?3)",
                params![address, format!("{reason:?}"), key],
            )?;
        }
        Suppression::SoftBounce => {
            let counted = event
                .message_id
                .as_deref()
                .map_or_else(|| key.clone(), |id| format!("message:{id}"));
            tx.execute(
                "INSERT OR IGNORE INTO soft_bounces (key, address) VALUES (?1, ?2)",
                params![counted, address],
            )?;
            let in_a_row: u32 = tx.query_row(
                "SELECT count(*) FROM soft_bounces WHERE address = ?1",
                params![address],
                |row| row.get(0),
            )?;
            if policy.stops_after(in_a_row) {
                tx.execute(
                    "INSERT OR IGNORE INTO suppressions (address, reason, event) VALUES (?1, 'SoftBounces', ?2)",
                    params![address, key],
                )?;
            }
        }
        // A delivery or an open: the address works; the count restarts.
        _ if matches!(
            event.kind,
            EventKind::Delivered | EventKind::Opened | EventKind::Clicked
        ) =>
        {
            tx.execute(
                "DELETE FROM soft_bounces WHERE address = ?1",
                params![address],
            )?;
        }
        _ => {}
    }
    tx.commit()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir =
        std::env::temp_dir().join(format!("email-webhooks-suppression-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let queue = SqliteQueue::open(dir.join("queue.db"))?;
    let db = Connection::open(dir.join("suppressions.db"))?;
    db.execute_batch(SCHEMA)?;

    // The receiving side (what the adapters' handoff route does per
    // request): verify, parse, enqueue, answer.
    let pipeline = Pipeline::new(
        MailjetVerifier::new(BasicAuth::parse("mailjet:example-password")?),
        MemoryStore::new(),
    );
    let mut settings = Settings::new();
    settings.basic_auth.push("mailjet:example-password".into());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let deliveries = [
        (EventKind::Bounced, "gone@example.com"),
        (EventKind::Complained, "angry@example.com"),
        (EventKind::Unsubscribed, "leaving@example.com"),
        (EventKind::Deferred, "full@example.com"),
        (EventKind::Deferred, "full@example.com"),
        (EventKind::Deferred, "full@example.com"),
        (EventKind::Deferred, "flaky@example.com"),
        (EventKind::Opened, "flaky@example.com"),
        (EventKind::Delivered, "happy@example.com"),
    ];
    let runtime = tokio::runtime::Runtime::new()?;
    for (i, (kind, recipient)) in deliveries.into_iter().enumerate() {
        let id = format!("sup-{i}");
        let simulate = Provider::Mailjet.info().ok_or("registered")?.simulate;
        let delivery = simulate(&Simulation::new(
            kind,
            recipient,
            &id,
            now + i64::try_from(i)?,
            &settings,
        ))?;
        let request = Request::new(&delivery.headers, &delivery.body);
        let enqueued = runtime.block_on(pipeline.hand_off(&request, &queue))?;
        println!(
            "{kind:<12} {recipient:<22} answered 200, {} enqueued",
            enqueued.enqueued
        );
    }

    // The worker side.
    let policy = SoftBouncePolicy::default();
    let db = Mutex::new(db);
    let report = runtime.block_on(
        Worker::new(queue)
            .with_concurrency(1) // one writer for the SQLite list, in order
            .with_poll_interval(Duration::from_millis(20))
            .run_until_idle(|event| {
                let applied = db
                    .lock()
                    .map_err(|_| "poisoned".to_owned())
                    .and_then(|mut db| apply(&mut db, &event, policy).map_err(|e| e.to_string()));
                std::future::ready(applied)
            }),
    );
    println!("\nworker: {report:?}\n\nsuppressions:");
    let db = db.into_inner().map_err(|_| "poisoned")?;
    let mut select = db.prepare("SELECT address, reason FROM suppressions ORDER BY address")?;
    let rows = select.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (address, reason) = row?;
        println!("  {address:<22} {reason}");
    }
    let flaky: Option<String> = db
        .query_row(
            "SELECT reason FROM suppressions WHERE address = 'flaky@example.com'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    assert!(
        flaky.is_none(),
        "one soft bounce then an open: still mailed"
    );
    drop(select);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
