//! The adapters' single route, `/webhooks/{provider}`, over real HTTP on
//! 127.0.0.1, for axum and actix-web alike: dispatch by name (404 for
//! unknown or unconfigured providers), each provider's acknowledgement
//! (GetResponse's `{"status":"OK"}`), the public URL built from the
//! configured base (GetResponse's secret is in its query), redelivery
//! deduplication, refusals reported to the observer, and `HEAD`/`GET`
//! probes.
#![cfg(all(feature = "axum", feature = "actix-web", feature = "sqlite"))]
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
    start_axum_with(pipeline()).await
}

/// The axum route for `pipeline`, within [`limits`], with peer addresses.
async fn start_axum_with(pipeline: Arc<Pipeline<Providers, MemoryStore>>) -> (String, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let router = email_webhooks::adapters::axum::webhooks_router(
        pipeline,
        |_event| async { Ok::<(), std::io::Error>(()) },
        move |handled| seen.lock().unwrap().push(handled.clone()),
    )
    .layer(axum::Extension(
        email_webhooks::adapters::PublicUrl::new(BASE).unwrap(),
    ))
    .layer(axum::Extension(limits()))
    .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, log)
}

fn start_actix() -> (String, Log) {
    start_actix_with(pipeline())
}

/// The actix-web route for `pipeline`, within [`limits`].
fn start_actix_with(pipeline: Arc<Pipeline<Providers, MemoryStore>>) -> (String, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
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

/// One HTTP/1.1 request on a fresh connection: the whole response as text.
async fn exchange(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> String {
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
    String::from_utf8_lossy(&response).into_owned()
}

/// A response's status (0 when there was none).
fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// One HTTP/1.1 request on a fresh connection: the status and the body.
async fn send(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let text = exchange(addr, method, target, headers, body).await;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status_of(&text), body)
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

/// A body cut short (the client sends half of its announced length, then
/// closes its side) is not a refusal: answered 503 so the provider sends it
/// again, and reported as `body_unreadable`.
async fn cut_short(addr: &str, log: &Log) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head =
        format!("POST /webhooks/mailjet HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 100\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b' '; 50]).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    assert_eq!(status_of(&String::from_utf8_lossy(&response)), 503);
    let last = log.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last.provider.as_str(), last.status, last.error_code),
        ("mailjet", 503, Some("body_unreadable"))
    );
}

/// A request to a provider that is not configured is answered 404 at once,
/// without waiting for (or reading) its body: here the body never comes.
async fn unknown_provider_unread(addr: &str) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /webhooks/no-such-provider HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 1000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response)).await;
    let n = read.expect("answered without the body").unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&response[..n])), 404);
}

#[tokio::test]
async fn axum_routes_by_provider_and_answers_as_each_requires() {
    let (addr, log) = start_axum().await;
    exercise(&addr, &log).await;
    over_the_limit(&addr, &log).await;
    cut_short(&addr, &log).await;
    unknown_provider_unread(&addr).await;
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
    cut_short(&addr, &log).await;
    unknown_provider_unread(&addr).await;
}

// --- Source allowlists, over real HTTP ---

fn allowlisted() -> Arc<Pipeline<Providers, MemoryStore>> {
    use email_webhooks::allowlist::SourceAllowlist;
    let loopback = SourceAllowlist::parse(["127.0.0.0/8", "::1"]).unwrap();
    let documentation_net = SourceAllowlist::parse(["192.0.2.0/24"]).unwrap();
    let behind_proxy = documentation_net
        .clone()
        .with_trusted_proxies(SourceAllowlist::parse(["127.0.0.1"]).unwrap().networks());
    let providers = Providers::new()
        .with_sources(
            MailjetVerifier::new(BasicAuth::parse("mj:pw").unwrap()),
            loopback,
        )
        .with_sources(
            GetresponseVerifier::new(UrlSecret::new(&Secret::from_bytes("gr-secret").unwrap())),
            documentation_net,
        )
        .with_sources(Probed, behind_proxy);
    Arc::new(Pipeline::new(providers, MemoryStore::new()))
}

async fn start_axum_allowlisted(connect_info: bool) -> (String, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let router = email_webhooks::adapters::axum::webhooks_router(
        allowlisted(),
        |_event| async { Ok::<(), std::io::Error>(()) },
        move |handled| seen.lock().unwrap().push(handled.clone()),
    )
    .layer(axum::Extension(
        email_webhooks::adapters::PublicUrl::new(BASE).unwrap(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    if connect_info {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    } else {
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    }
    (addr, log)
}

fn start_actix_allowlisted() -> (String, Log) {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let pipeline = allowlisted();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = actix_web::HttpServer::new(move || {
        let seen = Arc::clone(&seen);
        actix_web::App::new()
            .app_data(email_webhooks::adapters::PublicUrl::new(BASE).unwrap())
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

async fn exercise_allowlists(addr: &str, log: &Log) {
    let mut mailjet = Settings::new();
    mailjet.basic_auth.push("mj:pw".into());
    let mut getresponse = Settings::new();
    getresponse.secrets.push("gr-secret".into());
    let last_code = || log.lock().unwrap().last().and_then(|h| h.error_code);

    // From an allowed network (loopback): accepted.
    let d = simulated(Provider::Mailjet, EventKind::Opened, "a-1", &mailjet, false);
    let (status, _) = send(addr, "POST", "/webhooks/mailjet", &d.headers, &d.body).await;
    assert_eq!(status, 200);
    // From outside the list: 403, even with a header naming an allowed
    // address, since no proxy is trusted for this provider.
    let d = simulated(
        Provider::Getresponse,
        EventKind::Opened,
        "a-2",
        &getresponse,
        false,
    );
    let mut spoofed = d.headers.clone();
    spoofed.push(("X-Forwarded-For".into(), "192.0.2.10".into()));
    for headers in [&d.headers, &spoofed] {
        let (status, body) = send(addr, "POST", &target("getresponse", &d), headers, &d.body).await;
        assert_eq!((status, body.as_str()), (403, ""));
        assert_eq!(last_code(), Some("source_not_allowed"));
    }
    // Behind a trusted proxy (loopback here) the header is believed.
    let forwarded = |ip: &str| vec![("X-Forwarded-For".to_owned(), format!("203.0.113.1, {ip}"))];
    let (status, _) = send(
        addr,
        "POST",
        "/webhooks/probed",
        &forwarded("192.0.2.10"),
        b"{}",
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        addr,
        "POST",
        "/webhooks/probed",
        &forwarded("198.51.100.1"),
        b"{}",
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(last_code(), Some("source_not_allowed"));
    // A source refused anyway is refused before its body is read: the
    // answer comes with none of the announced megabyte sent. (It was read
    // first, up to the body limit, for every connection.)
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /webhooks/getresponse HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 1000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut response)).await;
    let n = read.expect("answered without the body").unwrap();
    assert_eq!(status_of(&String::from_utf8_lossy(&response[..n])), 403);
    assert_eq!(last_code(), Some("source_not_allowed"));
    // A trusted proxy that names no usable client: a configuration to fix,
    // 500 (retried), never the 403 that SNS, Brevo and MailerSend treat as
    // final.
    let junk = vec![("X-Forwarded-For".to_owned(), "junk".to_owned())];
    for headers in [Vec::new(), junk] {
        let (status, _) = send(addr, "POST", "/webhooks/probed", &headers, b"{}").await;
        assert_eq!(status, 500);
        assert_eq!(last_code(), Some("no_peer_address"));
    }
}

#[tokio::test]
async fn axum_refuses_sources_outside_the_allowlist_and_ignores_spoofed_forwarding() {
    let (addr, log) = start_axum_allowlisted(true).await;
    exercise_allowlists(&addr, &log).await;
}

#[tokio::test]
async fn actix_refuses_sources_outside_the_allowlist_and_ignores_spoofed_forwarding() {
    let (addr, log) = start_actix_allowlisted();
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(&addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    exercise_allowlists(&addr, &log).await;
}

/// An allowlist on a server that does not report peers is the receiver's
/// mistake: 500, retried, never a 403 the provider would give up on.
#[tokio::test]
async fn an_allowlist_without_peer_addresses_answers_500() {
    let (addr, log) = start_axum_allowlisted(false).await;
    let mut mailjet = Settings::new();
    mailjet.basic_auth.push("mj:pw".into());
    let d = simulated(Provider::Mailjet, EventKind::Opened, "p-1", &mailjet, false);
    let (status, _) = send(&addr, "POST", "/webhooks/mailjet", &d.headers, &d.body).await;
    assert_eq!(status, 500);
    assert_eq!(
        log.lock().unwrap().last().unwrap().error_code,
        Some("no_peer_address")
    );
}

// --- Handoff and rate limits, over real HTTP ---

/// One HTTP/1.1 request; the status and the `Retry-After` header.
async fn send_retry_after(
    addr: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, Option<u64>) {
    let text = exchange(addr, "POST", target, headers, body).await;
    let retry_after = text.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("retry-after")
            .then(|| value.trim().parse().ok())?
    });
    (status_of(&text), retry_after)
}

/// A queue whose every call fails, as a queue server that is down.
#[derive(Debug, Clone)]
struct Down;

fn down() -> email_webhooks::idempotency::StoreError {
    email_webhooks::idempotency::StoreError::Backend("the queue is down".into())
}

impl email_webhooks::queue::Queue for Down {
    async fn enqueue(
        &self,
        _: &[email_webhooks::queue::NewJob],
    ) -> Result<Vec<bool>, email_webhooks::idempotency::StoreError> {
        Err(down())
    }
    async fn claim(
        &self,
        _: usize,
        _: Duration,
    ) -> Result<Vec<email_webhooks::queue::ClaimedJob>, email_webhooks::idempotency::StoreError>
    {
        Err(down())
    }
    async fn renew(
        &self,
        _: &email_webhooks::queue::ClaimedJob,
        _: Duration,
    ) -> Result<(), email_webhooks::idempotency::StoreError> {
        Err(down())
    }
    async fn settle(
        &self,
        _: &email_webhooks::queue::ClaimedJob,
        _: email_webhooks::queue::Settlement<'_>,
    ) -> Result<(), email_webhooks::idempotency::StoreError> {
        Err(down())
    }
    async fn dead_letters(
        &self,
        _: usize,
    ) -> Result<Vec<email_webhooks::queue::DeadLetter>, email_webhooks::idempotency::StoreError>
    {
        Err(down())
    }
    async fn requeue(
        &self,
        _: Option<&[String]>,
    ) -> Result<usize, email_webhooks::idempotency::StoreError> {
        Err(down())
    }
    async fn counts(
        &self,
    ) -> Result<email_webhooks::queue::QueueCounts, email_webhooks::idempotency::StoreError> {
        Err(down())
    }
}

/// Serves the handoff route on `queue` with both frameworks; their addresses.
async fn start_handoff<Q>(
    pipeline: &Arc<Pipeline<Providers, MemoryStore>>,
    queue: Q,
    log: &Log,
) -> [String; 2]
where
    Q: email_webhooks::queue::Queue + Clone + 'static,
{
    let seen = Arc::clone(log);
    let router = email_webhooks::adapters::axum::webhooks_handoff_router(
        Arc::clone(pipeline),
        queue.clone(),
        move |handled| seen.lock().unwrap().push(handled.clone()),
    )
    .layer(axum::Extension(
        email_webhooks::adapters::PublicUrl::new(BASE).unwrap(),
    ))
    .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let axum_addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let seen = Arc::clone(log);
    let pipeline = Arc::clone(pipeline);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let actix_addr = listener.local_addr().unwrap().to_string();
    let server = actix_web::HttpServer::new(move || {
        let seen = Arc::clone(&seen);
        actix_web::App::new()
            .app_data(email_webhooks::adapters::PublicUrl::new(BASE).unwrap())
            .service(email_webhooks::adapters::actix::webhooks_handoff_resource(
                Arc::clone(&pipeline),
                queue.clone(),
                move |handled: &Handled| seen.lock().unwrap().push(handled.clone()),
            ))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(&actix_addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    [axum_addr, actix_addr]
}

#[tokio::test]
async fn both_adapters_hand_off_durably_and_answer_503_when_the_queue_is_down() {
    use email_webhooks::queue::{Queue as _, SqliteQueue};
    let dir = std::env::temp_dir().join(format!(
        "email-webhooks-handoff-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let queue = SqliteQueue::open(dir.join("queue.db")).unwrap();
    let log: Log = Arc::default();
    let addrs = start_handoff(&pipeline(), queue.clone(), &log).await;
    let mut mailjet = Settings::new();
    mailjet.basic_auth.push("mj:pw".into());
    let mut getresponse = Settings::new();
    getresponse.secrets.push("gr-secret".into());
    for (i, addr) in addrs.iter().enumerate() {
        let d = simulated(
            Provider::Mailjet,
            EventKind::Opened,
            &format!("h-{i}"),
            &mailjet,
            false,
        );
        for round in 0..2 {
            let (status, _) = send(addr, "POST", "/webhooks/mailjet", &d.headers, &d.body).await;
            assert_eq!(status, 200);
            let last = log.lock().unwrap().last().cloned().unwrap();
            assert_eq!(
                (last.enqueued, last.duplicates),
                if round == 0 { (1, 0) } else { (0, 1) }
            );
        }
        let g = simulated(
            Provider::Getresponse,
            EventKind::Clicked,
            &format!("g-{i}"),
            &getresponse,
            false,
        );
        let (status, body) = send(
            addr,
            "POST",
            &target("getresponse", &g),
            &g.headers,
            &g.body,
        )
        .await;
        assert_eq!((status, body.as_str()), (200, r#"{"status":"OK"}"#));
        let bad = simulated(
            Provider::Mailjet,
            EventKind::Opened,
            &format!("x-{i}"),
            &mailjet,
            true,
        );
        let (status, _) = send(addr, "POST", "/webhooks/mailjet", &bad.headers, &bad.body).await;
        assert_eq!(status, 401);
    }
    let counts = queue.counts().await.unwrap();
    assert_eq!(
        (counts.ready, counts.running),
        (4, 0),
        "two events per framework, once each"
    );

    // The queue down: 503, so the provider retries; nothing acknowledged.
    let log: Log = Arc::default();
    let addrs = start_handoff(&pipeline(), Down, &log).await;
    for addr in &addrs {
        let d = simulated(
            Provider::Mailjet,
            EventKind::Opened,
            "down",
            &mailjet,
            false,
        );
        let (status, _) = send(addr, "POST", "/webhooks/mailjet", &d.headers, &d.body).await;
        assert_eq!(status, 503);
        assert_eq!(
            log.lock().unwrap().last().unwrap().error_code,
            Some("store_unavailable")
        );
    }
}

fn rate_limited(
    limit: email_webhooks::ratelimit::RateLimit,
) -> Arc<Pipeline<Providers, MemoryStore>> {
    let providers = Providers::new()
        .with(MailjetVerifier::new(BasicAuth::parse("mj:pw").unwrap()))
        .with_rate_limit(limit);
    Arc::new(Pipeline::new(providers, MemoryStore::new()))
}

/// A rate limit on a server that reports no peer address cannot limit
/// anyone: answered 500 (a configuration to fix, retried meanwhile), never
/// passed silently.
#[tokio::test]
async fn a_rate_limit_without_peer_addresses_answers_500() {
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    let limit = email_webhooks::ratelimit::RateLimit::per_minute(std::num::NonZeroU32::MIN);
    let router = email_webhooks::adapters::axum::webhooks_router(
        rate_limited(limit),
        |_event| async { Ok::<(), std::io::Error>(()) },
        move |handled| seen.lock().unwrap().push(handled.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let mut mailjet = Settings::new();
    mailjet.basic_auth.push("mj:pw".into());
    for id in ["r-1", "r-2"] {
        let d = simulated(Provider::Mailjet, EventKind::Opened, id, &mailjet, false);
        let (status, _) = send(&addr, "POST", "/webhooks/mailjet", &d.headers, &d.body).await;
        assert_eq!(status, 500, "{id}");
        assert_eq!(
            log.lock().unwrap().last().unwrap().error_code,
            Some("no_peer_address")
        );
    }
}

/// Refused requests are charged to their provider and source: past the
/// budget they are answered 429 with `Retry-After`; a header naming another
/// client is ignored unless the peer is a trusted proxy; a genuine delivery
/// is never throttled.
#[tokio::test]
async fn both_adapters_rate_limit_refusals_per_source_and_ignore_spoofed_forwarding() {
    use email_webhooks::ratelimit::RateLimit;
    use std::num::NonZeroU32;
    let two = NonZeroU32::new(2).unwrap();
    let mut mailjet = Settings::new();
    mailjet.basic_auth.push("mj:pw".into());
    let delivery = |id: &str, forwarded: Option<&str>, forged: bool| {
        let mut d = simulated(Provider::Mailjet, EventKind::Opened, id, &mailjet, forged);
        if let Some(ip) = forwarded {
            d.headers.push(("X-Forwarded-For".into(), ip.into()));
        }
        d
    };
    // No trusted proxy: every request is 127.0.0.1's, whatever it claims.
    for which in 0..2 {
        let log: Log = Arc::default();
        let addrs = start_handoff(
            &rate_limited(RateLimit::per_minute(two)),
            Arc::new(email_webhooks::queue::MemoryQueue::new()),
            &log,
        )
        .await;
        let addr = &addrs[which];
        for (i, forwarded) in [None, Some("192.0.2.1")].into_iter().enumerate() {
            let d = delivery(&format!("f-{addr}-{i}"), forwarded, true);
            let (status, retry_after) =
                send_retry_after(addr, "/webhooks/mailjet", &d.headers, &d.body).await;
            assert_eq!((status, retry_after), (401, None));
        }
        for forwarded in [None, Some("192.0.2.2"), Some("198.51.100.7")] {
            let d = delivery(&format!("f-{addr}-over"), forwarded, true);
            let (status, retry_after) =
                send_retry_after(addr, "/webhooks/mailjet", &d.headers, &d.body).await;
            assert_eq!(status, 429);
            let wait = retry_after.expect("a Retry-After header");
            assert!((1..=30).contains(&wait), "Retry-After {wait}");
            assert_eq!(
                log.lock().unwrap().last().unwrap().error_code,
                Some("rate_limited")
            );
        }
        // Genuine deliveries from the same address: never throttled.
        for n in 0..3 {
            let d = delivery(&format!("g-{addr}-{n}"), None, false);
            let (status, _) =
                send_retry_after(addr, "/webhooks/mailjet", &d.headers, &d.body).await;
            assert_eq!(status, 200, "genuine #{n}");
        }
    }
    // Behind a trusted proxy (loopback), each forwarded client has its own
    // budget.
    for which in 0..2 {
        let proxied =
            RateLimit::per_minute(two).with_trusted_proxies(["127.0.0.1/32".parse().unwrap()]);
        let log: Log = Arc::default();
        let addrs = start_handoff(
            &rate_limited(proxied),
            Arc::new(email_webhooks::queue::MemoryQueue::new()),
            &log,
        )
        .await;
        let addr = &addrs[which];
        for client in ["192.0.2.10", "192.0.2.11"] {
            for n in 0..3 {
                let d = delivery(&format!("p-{addr}-{client}-{n}"), Some(client), true);
                let (status, _) =
                    send_retry_after(addr, "/webhooks/mailjet", &d.headers, &d.body).await;
                assert_eq!(status, if n < 2 { 401 } else { 429 }, "{client} #{n}");
            }
        }
    }
}

/// A body over the limit is a refusal like any other: charged to its
/// source, so a source sending oversized bodies is answered 429 once its
/// budget is spent (it was never charged: unlimited 413s), on both
/// adapters; behind a trusted proxy, to the forwarded client; a genuine
/// delivery from the same address still goes through.
#[tokio::test]
async fn oversized_bodies_are_charged_to_their_source() {
    use email_webhooks::ratelimit::RateLimit;
    let two = std::num::NonZeroU32::new(2).unwrap();
    let mut mailjet = Settings::new();
    mailjet.basic_auth.push("mj:pw".into());
    let big = vec![b' '; 70 * 1024];
    for proxied in [false, true] {
        let limit = || {
            let limit = RateLimit::per_minute(two);
            if proxied {
                limit.with_trusted_proxies(["127.0.0.1/32".parse().unwrap()])
            } else {
                limit
            }
        };
        let (axum_addr, axum_log) = start_axum_with(rate_limited(limit())).await;
        let (actix_addr, actix_log) = start_actix_with(rate_limited(limit()));
        for (addr, log) in [(&axum_addr, &axum_log), (&actix_addr, &actix_log)] {
            let mut d = simulated(Provider::Mailjet, EventKind::Opened, "big", &mailjet, false);
            if proxied {
                d.headers
                    .push(("X-Forwarded-For".into(), "192.0.2.20".into()));
            }
            for n in 0..3 {
                let (status, retry_after) =
                    send_retry_after(addr, "/webhooks/mailjet", &d.headers, &big).await;
                let code = log.lock().unwrap().last().unwrap().error_code;
                if n < 2 {
                    assert_eq!((status, code), (413, Some("body_too_large")), "{addr} #{n}");
                } else {
                    assert_eq!((status, code), (429, Some("rate_limited")), "{addr} #{n}");
                    assert!(retry_after.is_some_and(|wait| wait >= 1), "{addr}");
                }
            }
            if proxied {
                // Another client behind the proxy has its own budget.
                let mut other = d.clone();
                other.headers.pop();
                other
                    .headers
                    .push(("X-Forwarded-For".into(), "192.0.2.21".into()));
                let (status, _) =
                    send_retry_after(addr, "/webhooks/mailjet", &other.headers, &big).await;
                assert_eq!(status, 413, "{addr}");
            }
            // A genuine delivery from the same source goes through.
            let genuine = simulated(Provider::Mailjet, EventKind::Opened, "ok", &mailjet, false);
            let (status, _) =
                send_retry_after(addr, "/webhooks/mailjet", &genuine.headers, &genuine.body).await;
            assert_eq!(status, 200, "{addr}");
        }
    }
}

/// Providers deliver from shared addresses: other customers of the same
/// provider can send failing requests from the address your genuine
/// deliveries come from. Their refusals spend their own budget (per
/// provider and source), never a genuine delivery's: three wrong
/// GetResponse secrets, then a genuine GetResponse and a genuine Mailjet
/// delivery from the same address, both accepted.
#[tokio::test]
async fn strangers_refusals_from_a_shared_address_never_cost_a_genuine_delivery_a_429() {
    use email_webhooks::ratelimit::RateLimit;
    let three = std::num::NonZeroU32::new(3).unwrap();
    let mut mailjet = Settings::new();
    mailjet.basic_auth.push("mj:pw".into());
    let mut getresponse = Settings::new();
    getresponse.secrets.push("gr-secret".into());
    let mut stranger = Settings::new();
    stranger.secrets.push("another-customers-secret".into());
    for which in 0..2 {
        // Each adapter with its own limit (they would share one budget).
        let providers = Providers::new()
            .with(MailjetVerifier::new(BasicAuth::parse("mj:pw").unwrap()))
            .with(GetresponseVerifier::new(UrlSecret::new(
                &Secret::from_bytes("gr-secret").unwrap(),
            )))
            .with_rate_limit(RateLimit::per_minute(three));
        let pipeline = Arc::new(Pipeline::new(providers, MemoryStore::new()));
        let log: Log = Arc::default();
        let addrs = start_handoff(
            &pipeline,
            Arc::new(email_webhooks::queue::MemoryQueue::new()),
            &log,
        )
        .await;
        let addr = &addrs[which];
        for n in 0..4 {
            let d = simulated(
                Provider::Getresponse,
                EventKind::Opened,
                &format!("s-{addr}-{n}"),
                &stranger,
                false,
            );
            let (status, _) = send(
                addr,
                "POST",
                &target("getresponse", &d),
                &d.headers,
                &d.body,
            )
            .await;
            assert_eq!(status, if n < 3 { 401 } else { 429 }, "stranger #{n}");
        }
        let d = simulated(
            Provider::Getresponse,
            EventKind::Opened,
            &format!("gr-{addr}"),
            &getresponse,
            false,
        );
        let (status, _) = send(
            addr,
            "POST",
            &target("getresponse", &d),
            &d.headers,
            &d.body,
        )
        .await;
        assert_eq!(status, 200, "the genuine GetResponse delivery");
        let d = simulated(
            Provider::Mailjet,
            EventKind::Opened,
            &format!("mj-{addr}"),
            &mailjet,
            false,
        );
        let (status, _) = send(addr, "POST", "/webhooks/mailjet", &d.headers, &d.body).await;
        assert_eq!(status, 200, "the genuine Mailjet delivery");
        // Mailjet's refusals have a budget of their own.
        let d = simulated(
            Provider::Mailjet,
            EventKind::Opened,
            &format!("mjf-{addr}"),
            &mailjet,
            true,
        );
        let (status, _) = send(addr, "POST", "/webhooks/mailjet", &d.headers, &d.body).await;
        assert_eq!(status, 401);
    }
}

/// A flood of distinct sources (named by a trusted proxy) cannot switch
/// the limit off for a source it tracks: the table forgets the quietest,
/// and a source that keeps sending stays over its budget.
#[tokio::test]
async fn a_flood_of_sources_cannot_switch_the_limit_off() {
    use email_webhooks::ratelimit::RateLimit;
    let limit = RateLimit::per_minute(std::num::NonZeroU32::MIN)
        .with_max_sources(8)
        .with_trusted_proxies(["127.0.0.1/32".parse().unwrap()]);
    let log: Log = Arc::default();
    let addrs = start_handoff(
        &rate_limited(limit),
        Arc::new(email_webhooks::queue::MemoryQueue::new()),
        &log,
    )
    .await;
    let mut mailjet = Settings::new();
    mailjet.basic_auth.push("mj:pw".into());
    let forged = |client: String| {
        let mut d = simulated(
            Provider::Mailjet,
            EventKind::Opened,
            "flood",
            &mailjet,
            true,
        );
        d.headers.push(("X-Forwarded-For".into(), client));
        d
    };
    let addr = &addrs[0];
    let tracked = forged("192.0.2.77".into());
    let (status, _) = send(
        addr,
        "POST",
        "/webhooks/mailjet",
        &tracked.headers,
        &tracked.body,
    )
    .await;
    assert_eq!(status, 401);
    for n in 0..60u16 {
        let d = forged(format!("198.51.{}.{}", n / 250, n % 250));
        let (status, _) = send(addr, "POST", "/webhooks/mailjet", &d.headers, &d.body).await;
        assert_eq!(status, 401, "stranger #{n}");
        if n % 4 == 0 {
            let (status, _) = send(
                addr,
                "POST",
                "/webhooks/mailjet",
                &tracked.headers,
                &tracked.body,
            )
            .await;
            assert_eq!(status, 429, "the tracked source after {n} strangers");
        }
    }
}

/// `email-webhooks send` to a provider the receiver is not configured for
/// names the route it called and the providers the receiver serves there
/// (asked as any caller could: `GET` on each sibling route), for axum and
/// actix-web alike; a path where no provider answers says so.
#[cfg(feature = "cli")]
#[tokio::test(flavor = "multi_thread")]
async fn send_to_an_unconfigured_provider_names_the_route_and_the_configured_ones() {
    let (axum_addr, _) = start_axum().await;
    let (actix_addr, _) = start_actix();
    for addr in [axum_addr, actix_addr] {
        let send = move |path: String| {
            std::process::Command::new(env!("CARGO_BIN_EXE_email-webhooks"))
                .args([
                    "send",
                    "--provider",
                    "postmark",
                    "--basic-auth",
                    "pm:pw",
                    "--to",
                ])
                .arg(format!("http://{addr}{path}"))
                .output()
                .unwrap()
        };
        let output = tokio::task::spawn_blocking({
            let send = send.clone();
            move || send("/webhooks/postmark".to_owned())
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("HTTP 404"), "{stderr}");
        assert!(stderr.contains("POST /webhooks/postmark"), "{stderr}");
        assert!(stderr.contains("serves mailjet, getresponse"), "{stderr}");
        let output = tokio::task::spawn_blocking(move || send("/hooks/postmark".to_owned()))
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("no provider answers under /hooks/"),
            "{stderr}"
        );
    }
}
