//! `email-webhooks dead-letters list|requeue --queue URL`: the dead-letter
//! set of a durable queue.

use clap::{Args, Subcommand};
use email_webhooks::idempotency::StoreError;
use email_webhooks::queue::{Queue, decode_event};
use serde_json::{Value, json};

use crate::Usage;

#[derive(Args, Debug)]
pub(crate) struct DeadLettersArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// List dead letters, oldest first: prints {"dead_letters":[...]}.
    List {
        #[command(flatten)]
        queue: QueueArgs,
        /// At most this many (up to 1000).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Put dead letters back in the queue, attempts reset: prints
    /// {"requeued":N}.
    Requeue {
        #[command(flatten)]
        queue: QueueArgs,
        /// The key of a dead letter (repeat for several).
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "keys")]
        all: bool,
    },
}

#[derive(Args, Debug)]
struct QueueArgs {
    /// The queue, as the library opens it: sqlite:PATH; a PostgreSQL URL
    /// (postgres://…, postgresql://…) or libpq settings ('host=… user=…
    /// dbname=…'); a Redis URL (redis://…, rediss://…, redis+unix://…,
    /// unix://…).
    #[arg(long, value_name = "URL")]
    queue: String,
    /// The Redis key prefix (default `email-webhooks:queue:`).
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
}

pub(crate) fn run(args: &DeadLettersArgs) -> Result<(Value, u8), Usage> {
    if let Action::Requeue {
        keys, all: false, ..
    } = &args.action
    {
        if keys.is_empty() {
            return Err(Usage("requeue needs --key KEY or --all".into()));
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Usage(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let queue = match &args.action {
            Action::List { queue, .. } | Action::Requeue { queue, .. } => queue,
        };
        let url = queue.queue.as_str();
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if !std::path::Path::new(path).exists() {
                return Err(Usage(format!("no SQLite queue at {path}")));
            }
            return Ok(match email_webhooks::queue::SqliteQueue::open(path) {
                Ok(queue) => act(&queue, &args.action).await,
                Err(error) => failed(&error),
            });
        }
        if is_postgres(url) {
            #[cfg(feature = "postgres")]
            {
                let queue = email_webhooks::queue::PostgresQueue::connect(url).map_err(usage)?;
                return Ok(act(&queue, &args.action).await);
            }
            #[cfg(not(feature = "postgres"))]
            return Err(Usage(
                "this build has no PostgreSQL support (feature `postgres`)".into(),
            ));
        }
        if ["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            #[cfg(feature = "redis")]
            {
                let client = redis::Client::open(url).map_err(|e| Usage(e.to_string()))?;
                let mut queue = match email_webhooks::queue::RedisQueue::connect(&client).await {
                    Ok(queue) => queue,
                    Err(error) => return Ok(failed(&error)),
                };
                if let Some(prefix) = &queue_prefix(&args.action) {
                    queue = queue.with_prefix(prefix.clone());
                }
                return Ok(act(&queue, &args.action).await);
            }
            #[cfg(not(feature = "redis"))]
            return Err(Usage(
                "this build has no Redis support (feature `redis`)".into(),
            ));
        }
        // Never the URL itself: it may carry a password.
        let scheme = url
            .split_once(':')
            .map(|(scheme, _)| scheme)
            .filter(|scheme| {
                !scheme.is_empty()
                    && scheme.len() <= 16
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+')
            });
        Err(Usage(match scheme {
            Some(scheme) => {
                format!("--queue is sqlite:PATH, postgres://… (or libpq 'host=… dbname=…') or redis://…, not a {scheme}: URL")
            }
            None => "--queue is sqlite:PATH, postgres://… (or libpq 'host=… dbname=…') or redis://…".to_owned(),
        }))
    })
}

/// A PostgreSQL URL, or libpq `key=value` settings (`host=127.0.0.1
/// dbname=app`), as `tokio-postgres` reads them.
fn is_postgres(config: &str) -> bool {
    const KEYS: [&str; 12] = [
        "host",
        "hostaddr",
        "port",
        "user",
        "password",
        "dbname",
        "options",
        "application_name",
        "sslmode",
        "connect_timeout",
        "keepalives",
        "target_session_attrs",
    ];
    config.starts_with("postgres://")
        || config.starts_with("postgresql://")
        || (!config.contains("://")
            && config.split_whitespace().next().is_some_and(|first| {
                first
                    .split_once('=')
                    .is_some_and(|(key, _)| KEYS.contains(&key.trim()))
            }))
}

#[cfg(feature = "redis")]
fn queue_prefix(action: &Action) -> Option<String> {
    match action {
        Action::List { queue, .. } | Action::Requeue { queue, .. } => queue.prefix.clone(),
    }
}

#[cfg(feature = "postgres")]
#[allow(clippy::needless_pass_by_value)] // Used as `map_err(usage)`.
fn usage(error: StoreError) -> Usage {
    Usage(error.to_string())
}

fn failed(error: &StoreError) -> (Value, u8) {
    (
        json!({"error": {"code": error.code(), "message": error.to_string()}}),
        1,
    )
}

async fn act<Q: Queue>(queue: &Q, action: &Action) -> (Value, u8) {
    match action {
        Action::List { limit, .. } => match queue.dead_letters(*limit).await {
            Ok(letters) => {
                let letters: Vec<Value> = letters
                    .iter()
                    .map(|letter| {
                        let event = decode_event(&letter.payload, &[])
                            .ok()
                            .and_then(|event| serde_json::to_value(event).ok());
                        json!({
                            "key": letter.key,
                            "attempts": letter.attempts,
                            "error": letter.error,
                            "event": event,
                        })
                    })
                    .collect();
                (json!({"dead_letters": letters}), 0)
            }
            Err(error) => failed(&error),
        },
        Action::Requeue { keys, all, .. } => {
            let keys = (!all).then_some(keys.as_slice());
            match queue.requeue(keys).await {
                Ok(moved) => (json!({"requeued": moved}), 0),
                Err(error) => failed(&error),
            }
        }
    }
}
