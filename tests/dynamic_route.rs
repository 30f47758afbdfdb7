//! The adapters' single route, `/webhooks/{provider}`, over real HTTP on
//! 127.0.0.1, for axum and actix-web alike: dispatch by name (404 for
//! unknown or unconfigured providers), each provider's acknowledgement
//! (GetResponse's `{"status":"OK"}`), the public URL built from the
//! configured base (GetResponse's secret is in its query), redelivery
//! deduplication, refusals reported to the observer, and `HEAD`/`GET`
//! probes.
#![cfg(all(feature = "axum", feature = "actix-web"))]
// Tests panic on setup failures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use email_webhooks::adapters::Handled;
use email_webhooks::idempotency::MemoryStore;
use email_webhooks::pipeline::Pipeline;
use email_webhooks::provider::getresponse::GetresponseVerifier;
use email_webhooks::provider::mailjet::MailjetVerifier;
use email_webhooks::provider::{
    EmailProvider, Providers, Received, Reply, Settings, Simulated, Simulation,
};
use email_webhooks::scheme::url_secret::UrlSecret;
use email_webhooks::{BasicAuth, Error, EventKind, Provider, Request, Secret};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const BASE: &str = "https://hooks.example.com";

/// 64 KiB, so the over-limit case is cheap.
fn limits() -> email_webhooks::Limits {
    email_webhooks::Limits::default().with_max_body_bytes(64 * 1024)
}

/// A provider of our own that answers `GET` and `HEAD` probes.
#[derive(Debug)]
struct Probed;

impl EmailProvider for Probed {
    fn id(&self) -> Provider {
        Provider::Custom("probed")
    }
    async fn receive(&self, _request: &Request<'_>) -> Result<Received, Error> {
        Ok(Received::default())
    }
    fn probe(&self, _method: &http::Method) -> Option<Reply> {
        Some(Reply::status(http::StatusCode::OK))
    }
}

type Log = Arc<Mutex<Vec<Handled>>>;

fn pipeline() -> Arc<Pipeline<Providers, MemoryStore>> {
    let providers = Providers::new()
        .with(MailjetVerifier::new(BasicAuth::parse("mj:pw").unwrap()))
        .with(GetresponseVerifier::new(UrlSecret::new(
            &Secret::from_bytes("gr-secret").unwrap(),
        )))
        .with(Probed);
    Arc::new(Pipeline::new(providers, MemoryStore::new()))
}

async fn start_axum() -> (String, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let router = email_webhooks::adapters::axum::webhooks_router(
        pipeline(),
        |_event| async { Ok::<(), std::io::Error>(()) },
        move |handled| seen.lock().unwrap().push(handled.clone()),
    )
    .layer(axum::Extension(
        email_webhooks::adapters::PublicUrl::new(BASE).unwrap(),
    ))
    .layer(axum::Extension(limits()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, log)
}

fn start_actix() -> (String, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let pipeline = pipeline();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = actix_web::HttpServer::new(move || {
        let seen = Arc::clone(&seen);
        actix_web::App::new()
            .app_data(email_webhooks::adapters::PublicUrl::new(BASE).unwrap())
            .app_data(limits())
            .service(email_webhooks::adapters::actix::webhooks_resource(
                Arc::clone(&pipeline),
                |_event| async { Ok::<(), std::io::Error>(()) },
                move |handled: &Handled| seen.lock().unwrap().push(handled.clone()),
            ))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
    (addr, log)
}

/// One HTTP/1.1 request on a fresh connection: the status and the body.
async fn send(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn simulated(
    provider: Provider,
    kind: EventKind,
    id: &str,
    settings: &Settings,
    tamper: bool,
) -> Simulated {
    let mut sim = Simulation::new(kind, "jane@example.com", id, 1_800_000_000, settings);
    if tamper {
        sim = sim.tampered();
    }
    (provider.info().unwrap().simulate)(&sim).unwrap()
}

fn target(name: &str, delivery: &Simulated) -> String {
    match &delivery.query {
        Some(q) => format!("/webhooks/{name}?{q}"),
        None => format!("/webhooks/{name}"),
    }
}

async fn exercise(addr: &str, log: &Log) {
    let mut mailjet = Settings::new();
    mailjet.basic_auth.push("mj:pw".into());
    let mut getresponse = Settings::new();
    getresponse.secrets.push("gr-secret".into());

    // GetResponse: 200 with its acknowledgement body, and a redelivery is a
    // duplicate, acknowledged the same way.
    let d = simulated(
        Provider::Getresponse,
        EventKind::Opened,
        "w-1",
        &getresponse,
        false,
    );
    for attempt in 0..2 {
        let (status, body) = send(
            addr,
            "POST",
            &target("getresponse", &d),
            &d.headers,
            &d.body,
        )
        .await;
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"status":"OK"}"#),
            "attempt {attempt}"
        );
    }
    let last = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last.provider.as_str(), last.handled, last.duplicates),
        ("getresponse", 0, 1)
    );

    // A wrong secret: 401, no acknowledgement, and the observer sees why.
    let d = simulated(
        Provider::Getresponse,
        EventKind::Opened,
        "w-2",
        &getresponse,
        true,
    );
    let (status, body) = send(
        addr,
        "POST",
        &target("getresponse", &d),
        &d.headers,
        &d.body,
    )
    .await;
    assert_eq!((status, body.as_str()), (401, ""));
    assert_eq!(
        log.lock().unwrap().last().unwrap().error_code,
        Some("unauthorized")
    );

    // Mailjet, single and grouped: one event each, then the grouped one is
    // a duplicate of nothing new.
    let d = simulated(
        Provider::Mailjet,
        EventKind::Bounced,
        "m-1",
        &mailjet,
        false,
    );
    let (status, _) = send(addr, "POST", "/webhooks/mailjet", &d.headers, &d.body).await;
    assert_eq!(status, 200);
    let mut grouped = b"[".to_vec();
    grouped.extend_from_slice(&d.body);
    grouped.extend_from_slice(b"]");
    let (status, _) = send(addr, "POST", "/webhooks/mailjet", &d.headers, &grouped).await;
    assert_eq!(status, 200);
    let last = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.handled, last.duplicates), (0, 1));
    let d = simulated(Provider::Mailjet, EventKind::Bounced, "m-2", &mailjet, true);
    let (status, _) = send(addr, "POST", "/webhooks/mailjet", &d.headers, &d.body).await;
    assert_eq!(status, 401);

    // Unknown and unconfigured providers: 404, whatever the method.
    for name in ["nope", "mailgun", "sendgrid"] {
        let (status, _) = send(addr, "POST", &format!("/webhooks/{name}"), &[], b"{}").await;
        assert_eq!(status, 404, "{name}");
        let (status, _) = send(addr, "GET", &format!("/webhooks/{name}"), &[], b"").await;
        assert_eq!(status, 404, "{name}");
    }
    // Probes: answered where the provider expects them, else 405.
    for method in ["GET", "HEAD"] {
        let (status, _) = send(addr, method, "/webhooks/probed", &[], b"").await;
        assert_eq!(status, 200, "{method}");
        let (status, _) = send(addr, method, "/webhooks/mailjet", &[], b"").await;
        assert_eq!(status, 405, "{method}");
    }
}

/// A provider of our own that records the URL it was given.
#[derive(Debug, Default, Clone)]
struct Recorder(Arc<Mutex<Option<String>>>);

impl EmailProvider for Recorder {
    fn id(&self) -> Provider {
        Provider::Custom("recorder")
    }
    async fn receive(&self, request: &Request<'_>) -> Result<Received, Error> {
        *self.0.lock().unwrap() = request.url().map(str::to_owned);
        Ok(Received::default())
    }
}

/// Under `Router::nest` axum strips the prefix from the request's URI; the
/// public URL is still the one the provider called, prefix included.
#[tokio::test]
async fn axum_builds_the_public_url_from_the_original_uri_when_nested() {
    let recorder = Recorder::default();
    let providers = Providers::new().with(recorder.clone());
    let router = axum::Router::new()
        .nest(
            "/api",
            email_webhooks::adapters::axum::webhooks_router(
                Arc::new(Pipeline::new(providers, MemoryStore::new())),
                |_event| async { Ok::<(), std::io::Error>(()) },
                |_: &Handled| {},
            ),
        )
        .layer(axum::Extension(
            email_webhooks::adapters::PublicUrl::new(BASE).unwrap(),
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (status, _) = send(&addr, "POST", "/api/webhooks/recorder?x=1", &[], b"{}").await;
    assert_eq!(status, 200);
    assert_eq!(
        recorder.0.lock().unwrap().as_deref(),
        Some("https://hooks.example.com/api/webhooks/recorder?x=1")
    );
}

/// A body over the limit is refused while it is read: answered as the
/// provider needs and reported to the observer like any refusal.
async fn over_the_limit(addr: &str, log: &Log) {
    let mut mailjet = Settings::new();
    mailjet.basic_auth.push("mj:pw".into());
    let d = simulated(
        Provider::Mailjet,
        EventKind::Bounced,
        "big",
        &mailjet,
        false,
    );
    let big = vec![b' '; 70 * 1024];
    let (status, _) = send(addr, "POST", "/webhooks/mailjet", &d.headers, &big).await;
    assert_eq!(status, 413);
    let last = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last.provider.as_str(), last.error_code),
        ("mailjet", Some("body_too_large"))
    );
}

#[tokio::test]
async fn axum_routes_by_provider_and_answers_as_each_requires() {
    let (addr, log) = start_axum().await;
    exercise(&addr, &log).await;
    over_the_limit(&addr, &log).await;
}

#[tokio::test]
async fn actix_routes_by_provider_and_answers_as_each_requires() {
    let (addr, log) = start_actix();
    // The server thread binds before returning; give it a moment to accept.
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    exercise(&addr, &log).await;
    over_the_limit(&addr, &log).await;
}
