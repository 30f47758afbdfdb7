//! Brevo: derived keys that tell every pair of events apart, its
//! published ranges, and a transient failure answered 429.

// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use email_webhooks::BasicAuth;
use email_webhooks::provider::brevo::{self, BrevoVerifier};
use email_webhooks::provider::{Answer, EmailProvider as _};
use serde_json::{Value, json};

fn key(event: &Value) -> String {
    brevo::parse(event.to_string().as_bytes()).unwrap()[0].idempotency_key()
}

#[test]
fn derived_keys_differ_in_every_field_that_tells_events_apart() {
    let base = json!({"event": "click", "email": "a@example.com", "id": 1, "message-id": "<m1@x>",
        "ts_epoch": 1_765_000_000_123_i64, "ts_event": 1_765_000_000, "ts": 1_765_000_000,
        "link": "https://example.com/a", "reason": "r", "tag": "t", "tags": ["x"],
        "X-Mailin-custom": "{\"a\":1}"});
    let original = key(&base);
    let changes: [(&str, Value); 11] = [
        ("ts", json!(1_765_000_002)),
        ("event", json!("opened")),
        ("email", json!("b@example.com")),
        ("message-id", json!("<m2@x>")),
        ("ts_epoch", json!(1_765_000_000_124_i64)),
        ("ts_event", json!(1_765_000_001)),
        ("link", json!("https://example.com/b")),
        ("reason", json!("s")),
        ("tag", json!("u")),
        ("tags", json!(["y"])),
        ("X-Mailin-custom", json!("{\"a\":2}")),
    ];
    for (field, value) in changes {
        let mut variant = base.clone();
        variant[field] = value;
        assert_ne!(key(&variant), original, "{field}");
    }
    // Marketing events told apart only by their list or campaign.
    let listed = json!({"event": "list_addition", "email": "a@example.com", "list_id": [3],
        "camp_id": 9, "ts_event": 1_765_000_000});
    let mut other_list = listed.clone();
    other_list["list_id"] = json!([7]);
    let mut other_campaign = listed.clone();
    other_campaign["camp_id"] = json!(10);
    assert_ne!(key(&other_list), key(&listed));
    assert_ne!(key(&other_campaign), key(&listed));
    // Marketing clicks name the link `URL`: two clicks on different links
    // in one second are two events. So are two opens by two clients.
    let clicked = json!({"event": "click", "email": "a@example.com", "camp_id": 9,
        "ts_event": 1_765_000_000, "ts": 1_765_003_600, "URL": "https://example.com/a"});
    let mut other_link = clicked.clone();
    other_link["URL"] = json!("https://example.com/b");
    assert_ne!(key(&other_link), key(&clicked));
    let opened = json!({"event": "opened", "email": "a@example.com", "message-id": "<m1@x>",
        "ts_epoch": 1_765_000_000_123_i64, "user_agent": "Mail/1"});
    let mut other_client = opened.clone();
    other_client["user_agent"] = json!("Mozilla/5.0");
    assert_ne!(key(&other_client), key(&opened));
    // The webhook's id and the local date are not the event's: a
    // redelivery through another webhook is the same event.
    let mut other_webhook = base.clone();
    other_webhook["id"] = json!(2);
    other_webhook["date"] = json!("2025-12-06 10:00:00");
    assert_eq!(key(&other_webhook), original);
    // Batched or not, the same key.
    let batched = brevo::parse(json!([base]).to_string().as_bytes()).unwrap();
    assert_eq!(batched[0].idempotency_key(), original);
}

/// A marketing click's `URL` is its click URL, and the user agent is read;
/// an open's empty `link` is no click URL. The old code read neither name
/// and took the empty link as a URL.
#[test]
fn marketing_click_urls_and_user_agents_are_read() {
    let read = |event: &Value| {
        brevo::parse(event.to_string().as_bytes())
            .unwrap()
            .remove(0)
    };
    let click = read(
        &json!({"event": "click", "email": "a@example.com", "camp_id": 9,
        "ts_event": 1_765_000_000, "URL": "https://example.com/a", "user_agent": "Mail/1"}),
    );
    assert_eq!(click.click_url.as_deref(), Some("https://example.com/a"));
    assert_eq!(click.user_agent.as_deref(), Some("Mail/1"));
    let open = read(
        &json!({"event": "opened", "email": "a@example.com", "link": "",
        "ts_epoch": 1_765_000_000_123_i64}),
    );
    assert_eq!(open.click_url, None);
    // An odd value in either field never costs the event.
    let odd = read(
        &json!({"event": "click", "email": "a@example.com", "URL": {"href": "x"},
        "user_agent": ["Mail/1"], "ts_epoch": 1_765_000_000_123_i64}),
    );
    assert_eq!(odd.kind, email_webhooks::EventKind::Clicked);
    assert_eq!((odd.click_url, odd.user_agent), (None, None));
    // Sendinblue's marketing spellings of the bounces.
    let hard = read(&json!({"event": "hard_bounced", "email": "a@example.com", "ts_event": 1}));
    assert_eq!(hard.kind, email_webhooks::EventKind::Bounced);
    assert!(!hard.soft_bounce);
    assert!(read(&json!({"event": "soft_bounced", "email": "a@example.com"})).soft_bounce);
}

#[test]
fn times_come_from_ts_epoch_in_milliseconds_then_ts_event() {
    let time = |event: &Value| brevo::parse(event.to_string().as_bytes()).unwrap()[0].timestamp;
    let ms = time(&json!({"event": "delivered", "ts_epoch": 1_765_000_000_123_i64, "ts_event": 1}));
    assert_eq!(
        ms.unwrap().unix_timestamp_nanos(),
        1_765_000_000_123_000_000
    );
    let seconds = time(&json!({"event": "delivered", "ts_event": "1765000000"}));
    assert_eq!(seconds.unwrap().unix_timestamp(), 1_765_000_000);
    assert!(time(&json!({"event": "delivered", "date": "2025-12-06 10:00:00"})).is_none());
    // `ts` follows the account's zone (Brevo's example: `ts_event` + 3600):
    // an event with only it has no time rather than a wrong one.
    assert!(time(&json!({"event": "list_addition", "ts": 1_765_003_600})).is_none());
    let marketing = time(&json!({"event": "spam", "ts_event": 1_765_000_000, "ts": 1_765_003_600}));
    assert_eq!(marketing.unwrap().unix_timestamp(), 1_765_000_000);
    // Brevo's transactional example gives `ts_epoch` in seconds, equal to
    // `ts_event`: read as seconds (it was 1970-01-21).
    let example =
        time(&json!({"event": "delivered", "ts_event": 1_604_933_654, "ts_epoch": 1_604_933_654}));
    assert_eq!(example.unwrap().unix_timestamp(), 1_604_933_654);
    // `unique_proxy_opened`, as Brevo's documentation also spells it.
    let proxy = brevo::parse(
        json!({"event": "unique_proxy_opened", "email": "a@example.com"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(proxy[0].kind, email_webhooks::EventKind::Opened);
    // `tag` as a list (Brevo's proxy-open deliveries, as django-anymail's
    // tests show them): read as the tags; it made the event unknown.
    let listed = brevo::parse(
        json!({"event": "proxy_open", "email": "a@example.com", "message-id": "<m@x>",
            "tag": ["transactionalTag", "second"], "ts_epoch": 1_534_486_682_000_i64})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(listed[0].kind, email_webhooks::EventKind::Opened);
    assert_eq!(listed[0].recipient.as_deref(), Some("a@example.com"));
    assert_eq!(listed[0].tags, ["transactionalTag", "second"]);
}

#[test]
fn the_published_ranges_parse_and_a_transient_failure_is_429() {
    let sources = brevo::published_sources();
    assert_eq!(sources.networks().len(), 2);
    assert!(sources.allows("172.246.240.1".parse().unwrap()));
    assert!(sources.allows("1.179.127.255".parse().unwrap()));
    assert!(!sources.allows("1.179.128.0".parse().unwrap()));

    let verifier = BrevoVerifier::new(BasicAuth::new("u", "p").unwrap());
    let reply = verifier.reply(Answer::RetryLater(http::StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(reply.status, http::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.retry_after, Some(600));
}
