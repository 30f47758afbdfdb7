//! `email-webhooks`: verify and sign webhook requests from the command line, for
//! people debugging a failing webhook and for scripts.
//!
//! ```text
//! email-webhooks verify --scheme NAME [--secret S]... [--key K]... [--basic-auth USER:PASS]...
//!                 [--header 'Name: value']... [--url URL] [--url-param NAME] [--topic ARN]...
//!                 [--now UNIX_SECONDS] [--tolerance SECONDS | --no-replay-check]
//!                 [--max-body BYTES] [--body FILE]        (body from stdin when no --body)
//! email-webhooks explain [--json] (the same arguments as verify: says why a request does not verify)
//! email-webhooks sign   --scheme NAME [--secret S | --key K | --basic-auth USER:PASS] [--url URL]
//!                 [--id ID] [--timestamp UNIX] [--body FILE]   (NAME: a scheme or an email provider)
//! email-webhooks parse  --provider NAME [--header 'Name: value']... [--body FILE]
//! email-webhooks send   --provider NAME --to http://HOST:PORT/PATH... [--event KIND | --body FILE]
//!                 [--recipient ADDR] [--secret S | --key K | --basic-auth USER:PASS]
//!                 [--url-param NAME] [--topic ARN] [--repeat N] [--tamper] [--print]
//! email-webhooks keygen --provider sendgrid|ses [--cert-out FILE]
//! ```
//!
//! Every command prints one JSON object. `verify` exits 0 when valid, 1 when
//! not; `send` exits 0 when the endpoint answered as it should (2xx, or
//! 400/401/403 with `--tamper`), 1 otherwise (an endpoint that cannot be
//! reached included); usage errors exit 2 with a message on stderr that
//! says what to fix.

mod dead_letters;
mod simulate;

use std::io::{self, Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use email_webhooks::provider::sns::{SnsCertificate, SnsMessage, SnsVerifier, StaticCertificates};
use email_webhooks::provider::{Control, Received, ReplayChoice, Settings, SetupError, Simulation};
use email_webhooks::scheme::github::GitHubVerifier;
use email_webhooks::scheme::hmac::HmacVerifier;
use email_webhooks::scheme::standard::{
    SigningKey, StandardWebhooks, StandardWebhooksSigner, VerifyingKey,
};
use email_webhooks::scheme::stripe::StripeVerifier;
use email_webhooks::scheme::twilio::TwilioVerifier;
use email_webhooks::scheme::{shopify, slack};
use email_webhooks::{
    Ed25519PublicKey, EmailEvent, EventKind, Limits, Provider, ReplayWindow, Request, Secret,
    Verified, VerifyError,
};
use futures_util::FutureExt as _;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Parser, Debug)]
#[command(
    name = "email-webhooks",
    version,
    about = "Verify and sign webhook requests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify a request: prints {"valid":true,...} (exit 0) or
    /// {"valid":false,"error":{...}} (exit 1).
    Verify(VerifyArgs),
    /// Say why a request does not verify (the same arguments as verify):
    /// tries the known mistakes (re-serialized body, newlines, secret
    /// encoding, URL variants, clock skew, another key given, joined
    /// headers, header family) and names the one that explains it. Exit 0
    /// when it verifies or a cause is found, 1 when none is.
    Explain(ExplainArgs),
    /// Sign a body as the sender would, with a signature scheme or as an
    /// email provider signs (a captured or edited delivery): prints
    /// {"headers":{...}}, with "query" (a URL secret) and "body" (when the
    /// provider signs inside it, as Mailgun and SES do) as needed.
    Sign(SignArgs),
    /// Parse a provider's body into events without verifying it: prints
    /// {"events":[...]} (exit 0) or an error object (exit 1).
    Parse(ParseArgs),
    /// Post a realistic signed sample event of a provider (or a saved
    /// delivery, `--body`) to your endpoint: prints {"sent":true,
    /// "status":...} (exit 0 when every answer is 2xx, or a refusal with
    /// `--tamper`; 1 otherwise, an unreachable endpoint included).
    Send(SendArgs),
    /// Make the test keys a receiver is configured with: a P-256 key pair
    /// (sendgrid), or an RSA key and a self-signed certificate (ses).
    Keygen(KeygenArgs),
    /// A durable queue's dead-letter set: `list` prints
    /// {"dead_letters":[...]}, `requeue --key KEY | --all` prints
    /// {"requeued":N} (exit 1 with an error object if the queue fails).
    DeadLetters(dead_letters::DeadLettersArgs),
}

#[derive(Args, Debug)]
struct ExplainArgs {
    #[command(flatten)]
    verify: VerifyArgs,
    /// Print one JSON object: {"verified":true}, or {"verified":false,
    /// "cause":CODE|null,"hint":…,"signed":{…}}.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct SendArgs {
    /// The provider to simulate.
    #[arg(long, value_parser = provider_names())]
    provider: String,
    /// The event kind (delivered, bounced, opened, clicked, complained,
    /// unsubscribed, …; each provider sends some of them).
    #[arg(long, default_value = "delivered")]
    event: String,
    /// Your endpoint, for example http://127.0.0.1:3000/webhooks/resend.
    /// Repeat for several receivers (replicas): delivery N goes to the
    /// Nth, in turn, the same event each time.
    #[arg(long, required = true, value_name = "URL")]
    to: Vec<String>,
    /// Send this body (a captured or edited delivery) instead of a sample,
    /// signed as the provider signs (a signature inside the body, such as
    /// Mailgun's `signature` object or an SNS envelope's, is replaced);
    /// `--event` and `--recipient` are then unused.
    #[arg(long, value_name = "FILE", conflicts_with = "tamper")]
    body: Option<PathBuf>,
    /// Send an inbound-mail delivery (a message the provider received for
    /// `--recipient`) instead of an event.
    #[arg(long)]
    inbound: bool,
    /// The recipient address in the sample.
    #[arg(long, default_value = "recipient@example.com")]
    recipient: String,
    #[command(flatten)]
    signer: Signer,
    /// Deliver the event this many times (default: once to each `--to`),
    /// signed again each time as a provider's retries are: the endpoint
    /// should acknowledge the copies (2xx) without processing them again.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: Option<u32>,
    /// Alter the request after signing (a letter of the recipient; for
    /// basic-auth providers the password, for URL secrets the secret,
    /// for mailgun the signed token): the endpoint should refuse it, and
    /// `send` exits 0 only if every answer is 400, 401 or 403.
    #[arg(long)]
    tamper: bool,
    /// Print the request (URL, headers, body) instead of posting it.
    #[arg(long)]
    print: bool,
}

#[derive(Args, Debug)]
struct KeygenArgs {
    /// The provider whose keys to make: sendgrid or ses.
    #[arg(long)]
    provider: String,
    /// ses: also write the certificate (PEM) to this file, for the
    /// receiver's certificate source.
    #[arg(long = "cert-out", value_name = "FILE")]
    cert_out: Option<PathBuf>,
}

/// The registry's provider names, for `--provider` and `--scheme`.
fn provider_names() -> PossibleValuesParser {
    PossibleValuesParser::new(Provider::ALL.iter().map(|p| p.as_str()))
}

#[derive(Args, Debug)]
struct ParseArgs {
    /// The provider.
    #[arg(long, value_parser = provider_names())]
    provider: String,
    /// A request header, `Name: value`; repeat for each.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    #[command(flatten)]
    delivery: Delivery,
}

/// The signature schemes that are not email providers (the providers come
/// from the registry), as `verify --scheme` and `sign --scheme` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scheme {
    /// Standard Webhooks v1 (whsec_) and v1a (whpk_/whsk_).
    #[value(name = "standard-webhooks", alias = "svix")]
    StandardWebhooks,
    /// Stripe-Signature.
    Stripe,
    /// X-Hub-Signature-256.
    Github,
    /// X-Slack-Signature.
    Slack,
    /// X-Shopify-Hmac-Sha256.
    Shopify,
    /// X-Twilio-Signature (needs --url).
    Twilio,
    /// Any Amazon SNS delivery, envelope only (--key: the certificate PEM);
    /// `verify` only.
    Sns,
    /// Resend: Standard Webhooks as `svix-*` headers; `sign` only (`verify`
    /// takes Resend as the provider).
    Resend,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Self::StandardWebhooks => "standard-webhooks",
            Self::Stripe => "stripe",
            Self::Github => "github",
            Self::Slack => "slack",
            Self::Shopify => "shopify",
            Self::Twilio => "twilio",
            Self::Sns => "sns",
            Self::Resend => "resend",
        }
    }

    /// Whether `--key` (rather than `--secret`) carries the key.
    fn takes_key(self) -> bool {
        matches!(self, Self::StandardWebhooks | Self::Sns)
    }

    /// The scheme `verify` (or, with `sign`, `sign`) reads `name` as:
    /// `None` for a provider's name, or a scheme the command lacks.
    fn named(name: &str, sign: bool) -> Option<Self> {
        let scheme = Self::from_str(name, false).ok()?;
        match scheme {
            Self::Sns if sign => None,
            Self::Resend if !sign => None,
            other => Some(other),
        }
    }

    /// The names `--scheme` takes: these schemes, and the registry's
    /// providers (Resend signed as the scheme: with the `--id` given).
    fn names(sign: bool) -> PossibleValuesParser {
        let schemes = Self::value_variants()
            .iter()
            .filter(|s| Self::named(s.as_str(), sign).is_some())
            .filter_map(ValueEnum::to_possible_value);
        let providers = Provider::ALL
            .iter()
            .filter(|p| !(sign && **p == Provider::Resend))
            .map(|p| clap::builder::PossibleValue::new(p.as_str()));
        PossibleValuesParser::new(schemes.chain(providers))
    }
}

#[derive(Args, Debug, Clone)]
struct VerifyArgs {
    /// The signature scheme or email provider.
    #[arg(long, value_parser = Scheme::names(false))]
    scheme: String,
    /// A shared secret; repeat for key rotation.
    #[arg(long = "secret", value_name = "S")]
    secrets: Vec<String>,
    /// A public key or certificate (Standard Webhooks `whpk_…`, the SendGrid
    /// verification key, the SNS certificate PEM), or a file holding one.
    #[arg(long, value_name = "K", allow_hyphen_values = true)]
    key: Vec<String>,
    /// A request header, `Name: value`; repeat for each.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Accepted basic-auth credentials, `USER:PASS` (providers authenticated
    /// by the credentials in their webhook URL); repeat for rotation.
    #[arg(long = "basic-auth", value_name = "USER:PASS")]
    basic_auth: Vec<String>,
    /// The public URL the provider called, query included (Twilio signs it;
    /// URL-secret providers read their secret from its query).
    #[arg(long)]
    url: Option<String>,
    /// The query parameter carrying the URL secret (default `secret`).
    #[arg(long = "url-param", value_name = "NAME")]
    url_param: Option<String>,
    /// An accepted SNS topic ARN (ses, sns); repeat for each. Required:
    /// AWS signs every account's topics with the same certificates.
    #[arg(long = "topic", value_name = "ARN")]
    topics: Vec<String>,
    /// Verify as if the time were this Unix time in seconds.
    #[arg(long, value_name = "UNIX_SECONDS", allow_negative_numbers = true)]
    now: Option<i64>,
    /// Replay tolerance in seconds, both ways (default 300; SendGrid 73 h
    /// past; SES/SNS 2 h past, 5 min future).
    #[arg(long, value_name = "SECONDS", conflicts_with = "no_replay_check")]
    tolerance: Option<u64>,
    /// Accept any signed timestamp (for replaying captured requests).
    #[arg(long)]
    no_replay_check: bool,
    /// Largest body accepted, in bytes (default 5 MiB).
    #[arg(long, value_name = "BYTES")]
    max_body: Option<usize>,
    #[command(flatten)]
    delivery: Delivery,
}

/// The delivery `parse` and `verify` read: its body, and whether it is
/// inbound mail.
#[derive(Args, Debug, Clone)]
struct Delivery {
    /// Read the body from this file instead of standard input.
    #[arg(long, value_name = "FILE")]
    body: Option<PathBuf>,
    /// Read the provider's inbound-mail delivery (a message it received
    /// for you) instead of an event webhook: the output lists its
    /// "messages". For `verify` the body limit is then 64 MiB unless
    /// --max-body.
    #[arg(long)]
    inbound: bool,
    /// With --inbound: the content the provider serves at URL (an S3
    /// object, Resend's received email, an attachment), read from FILE;
    /// repeat for each. Content a delivery needs and is not given is
    /// `content_unavailable`, naming its URL.
    #[arg(long = "fetched", value_name = "URL=FILE")]
    fetched: Vec<String>,
}

/// How `send` and `sign` sign as a provider or scheme: its secret or key,
/// and the settings some providers need.
#[derive(Args, Debug)]
struct Signer {
    /// The shared secret (a scheme's, or a provider's signing key such as
    /// mailgun's or resend's whsec_…, URL secret or API key).
    #[arg(long, value_name = "S")]
    secret: Option<String>,
    /// A signing key: a provider's private key (base64 PKCS#8 as `keygen`
    /// makes, or the base64 seed of an Ed25519 signer), or for `sign
    /// --scheme standard-webhooks` a `whsk_…` key; or a file holding one.
    #[arg(long, value_name = "K", allow_hyphen_values = true)]
    key: Option<String>,
    /// Basic-auth credentials, USER:PASS (providers authenticated by the
    /// credentials in their webhook URL).
    #[arg(long = "basic-auth", value_name = "USER:PASS")]
    basic_auth: Option<String>,
    /// The query parameter carrying the URL secret (default `secret`).
    #[arg(long = "url-param", value_name = "NAME")]
    url_param: Option<String>,
    /// The SNS topic the delivery is published to (ses).
    #[arg(long = "topic", value_name = "ARN")]
    topic: Option<String>,
}

impl Signer {
    /// The provider settings to sign with.
    fn settings(&self) -> Result<Settings, Usage> {
        let mut settings = Settings::new();
        settings.secrets.extend(self.secret.clone());
        settings
            .keys
            .extend(self.key.as_deref().map(key_text).transpose()?);
        settings.basic_auth.extend(self.basic_auth.clone());
        settings.topics.extend(self.topic.clone());
        settings.url_param.clone_from(&self.url_param);
        Ok(settings)
    }
}

#[derive(Args, Debug)]
struct SignArgs {
    /// The signature scheme or email provider.
    #[arg(long, value_parser = Scheme::names(true))]
    scheme: String,
    #[command(flatten)]
    signer: Signer,
    /// The delivery id (Standard Webhooks; default `msg_<timestamp>`; for a
    /// provider, the value its per-delivery ids derive from).
    #[arg(long)]
    id: Option<String>,
    /// The Unix time to sign (default now).
    #[arg(long, value_name = "UNIX", allow_negative_numbers = true)]
    timestamp: Option<i64>,
    /// The public URL (Twilio, and providers that sign it).
    #[arg(long)]
    url: Option<String>,
    /// Read the body from this file instead of standard input.
    #[arg(long, value_name = "FILE")]
    body: Option<PathBuf>,
}

/// A usage error: exit 2, message on stderr.
struct Usage(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Verify(args) => run_verify(&args),
        Command::Explain(args) => run_explain(&args),
        Command::Sign(args) => run_sign(&args),
        Command::Parse(args) => run_parse(&args),
        Command::Send(args) => run_send(&args),
        Command::Keygen(args) => run_keygen(&args),
        Command::DeadLetters(args) => dead_letters::run(&args),
    };
    match outcome {
        Ok((value, code)) => {
            let mut out = io::stdout().lock();
            // Plain text (explain without --json) prints as it is.
            let written = match &value {
                Value::String(text) => writeln!(out, "{text}"),
                other => writeln!(out, "{other}"),
            };
            if written.is_err() {
                return ExitCode::from(1);
            }
            ExitCode::from(code)
        }
        Err(Usage(message)) => {
            eprintln!("email-webhooks: {message}");
            ExitCode::from(2)
        }
    }
}

fn read_body(path: Option<&PathBuf>, max: usize) -> Result<Vec<u8>, Usage> {
    // Read one byte past the limit so the verifier can report body_too_large
    // without this tool reading an unbounded stream.
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut body = Vec::new();
    let result = match path {
        Some(p) => std::fs::File::open(p)
            .and_then(|f| f.take(limit).read_to_end(&mut body))
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
        None => io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut body)
            .map_err(|e| format!("cannot read standard input: {e}")),
    };
    result.map(|_| body).map_err(Usage)
}

/// The whole body, refused as a usage error past `max` bytes (what is
/// signed, sent or parsed must be the file, never a prefix of it).
fn read_whole(path: Option<&PathBuf>, max: usize) -> Result<Vec<u8>, Usage> {
    let body = read_body(path, max)?;
    if body.len() > max {
        let name = path.map_or_else(|| "standard input".to_owned(), |p| p.display().to_string());
        return Err(Usage(format!(
            "{name} is larger than {max} bytes, the most a delivery's body may be"
        )));
    }
    Ok(body)
}

fn parse_headers(raw: &[String]) -> Result<Vec<(String, String)>, Usage> {
    raw.iter()
        .map(|h| match h.split_once(':') {
            // Trimmed at both ends, as an HTTP server reads a field (a
            // line copied from `curl -D` ends in CR).
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(Usage(format!("--header expects `Name: value`, got `{h}`"))),
        })
        .collect()
}

/// The most a key file may hold: a PEM certificate chain is a few KiB.
const KEY_FILE_MAX: u64 = 1 << 20;

/// A key given inline, or the contents of the file it names (any file that
/// opens: a regular file, `/dev/stdin`, a pipe from `<(…)`). A value with a
/// `.` names a file, as no inline key form has one: a missing one is a
/// usage error, not a key.
fn key_text(key: &str) -> Result<String, Usage> {
    let path = std::path::Path::new(key);
    if !path.exists() && !key.contains('.') {
        return Ok(key.to_owned());
    }
    let cannot = |e: &dyn std::fmt::Display| Usage(format!("cannot read key file {key}: {e}"));
    let mut contents = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(KEY_FILE_MAX + 1).read_to_string(&mut contents))
        .map_err(|e| cannot(&e))?;
    if contents.len() as u64 > KEY_FILE_MAX {
        return Err(cannot(&format_args!("larger than {KEY_FILE_MAX} bytes")));
    }
    Ok(contents.trim().to_owned())
}

/// `parse`'s refusal of a body over `limit` (it reads one byte more, so
/// the length is not known).
fn too_large(limit: usize) -> (Value, u8) {
    let code = VerifyError::BodyTooLarge { len: limit, limit }.code();
    (
        json!({"error": {"code": code, "message": format!("the body is larger than {limit} bytes, the most a delivery's body may be")}}),
        1,
    )
}

fn invalid(error: &VerifyError) -> (Value, u8) {
    (
        json!({"valid": false, "error": {"code": error.code(), "message": message(error)}}),
        1,
    )
}

/// An error's text with its causes (`invalid secret: the key was refused:
/// a P-256 public key`): never a secret, as no error text holds one.
fn message(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn run_verify(args: &VerifyArgs) -> Result<(Value, u8), Usage> {
    let input = input(args)?;
    verify_with(args, input)
}

/// `verify` for a request already read.
fn verify_with(args: &VerifyArgs, input: Input) -> Result<(Value, u8), Usage> {
    if !args.delivery.inbound && !args.delivery.fetched.is_empty() {
        return Err(Usage("--fetched is for --inbound deliveries".into()));
    }
    if let Ok(provider) = args.scheme.parse::<Provider>() {
        if args.delivery.inbound {
            return run_verify_inbound(args, provider, &input);
        }
        return run_verify_provider(args, provider, input);
    }
    if args.delivery.inbound {
        return Err(Usage(format!(
            "--inbound reads an email provider's inbound mail, not the {} scheme",
            args.scheme
        )));
    }
    let scheme = Scheme::named(&args.scheme, false)
        .ok_or_else(|| Usage(format!("unknown scheme {}", args.scheme)))?;
    run_verify_scheme(args, scheme, &input)
}

/// `explain`: the request as given, then each hypothesis of
/// [`email_webhooks::explain`], through the same verification as `verify`.
fn run_explain(explain: &ExplainArgs) -> Result<(Value, u8), Usage> {
    use email_webhooks::explain::{Outcome, Parts, diagnose, signed_parts};
    let args = &explain.verify;
    let input = input(args)?;
    let mut parts =
        Parts::new(input.headers.clone(), input.body.clone()).at(input.now.unix_timestamp());
    if let Some(url) = &args.url {
        parts = parts.with_url(url.clone());
    }
    let mut settings = Settings::new();
    settings.secrets.clone_from(&args.secrets);
    settings.keys.clone_from(&input.key_texts);
    settings.basic_auth.clone_from(&args.basic_auth);
    settings.topics.clone_from(&args.topics);
    settings.replay = input.replay;
    // A usage error (a missing flag) is the user's to fix first.
    verify_with(args, input.clone())?;
    let mut usage = None;
    let diagnosis = diagnose(&parts, &settings, |candidate| {
        let mut args = args.clone();
        args.secrets.clone_from(&candidate.settings.secrets);
        args.basic_auth.clone_from(&candidate.settings.basic_auth);
        args.url.clone_from(&candidate.url);
        let mut input = input.clone();
        input.key_texts.clone_from(&candidate.settings.keys);
        input.headers.clone_from(&candidate.headers);
        input.body.clone_from(&candidate.body);
        input.replay = candidate.settings.replay;
        if input.replay == ReplayChoice::DangerousDisabled {
            args.no_replay_check = true;
            args.tolerance = None;
        }
        match verify_with(&args, input) {
            Ok((out, 0)) => Outcome::Verified {
                signed_at: out["unix_timestamp"].as_i64(),
            },
            Ok(_) => Outcome::Refused,
            Err(e) => {
                usage.get_or_insert(e);
                Outcome::Refused
            }
        }
    });
    let mut out = json!({"verified": diagnosis.verified});
    if !diagnosis.verified {
        let cause = diagnosis.cause;
        out["cause"] = cause.map_or(Value::Null, |c| json!(c.code()));
        out["hint"] = json!(cause.map_or_else(
            || "none of the known mistakes explains it: check that the key is the sender's for this endpoint, and that the request is the one the provider sent".to_owned(),
            |c| c.hint(),
        ));
        for found in [cause, diagnosis.also].into_iter().flatten() {
            match found {
                email_webhooks::explain::Cause::ClockSkew { seconds } => {
                    out["skew_seconds"] = json!(seconds);
                }
                email_webhooks::explain::Cause::WrongKey { index } => {
                    out["key_index"] = json!(index);
                }
                _ => {}
            }
        }
        if let Some(also) = diagnosis.also {
            out["also"] = json!(also.code());
            out["also_hint"] = json!(also.hint());
        }
        out["signed"] = signed_parts(&parts);
        out["attempts"] = json!(diagnosis.attempts);
    }
    let code = u8::from(!diagnosis.verified && diagnosis.cause.is_none());
    if explain.json {
        return Ok((out, code));
    }
    let text = if diagnosis.verified {
        "the request verifies as given".to_owned()
    } else {
        let also = out["also_hint"]
            .as_str()
            .map(|hint| format!("\nalso: {hint}"))
            .unwrap_or_default();
        format!(
            "does not verify: {}\ncause: {}{also}\nsigned: {}",
            out["hint"].as_str().unwrap_or_default(),
            out["cause"].as_str().unwrap_or("unknown"),
            out["signed"]
        )
    };
    Ok((Value::String(text), code))
}

/// What every `verify` reads: the limits, headers, body, time and keys.
#[derive(Clone)]
struct Input {
    limits: Limits,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    now: OffsetDateTime,
    key_texts: Vec<String>,
    replay: ReplayChoice,
}

fn input(args: &VerifyArgs) -> Result<Input, Usage> {
    let limits = match (args.max_body, args.delivery.inbound) {
        (Some(bytes), _) => Limits::default().with_max_body_bytes(bytes),
        (None, true) => Limits::default()
            .with_max_body_bytes(email_webhooks::InboundLimits::default().max_body_bytes),
        (None, false) => Limits::default(),
    };
    let headers = parse_headers(&args.headers)?;
    let body = read_body(args.delivery.body.as_ref(), limits.max_body_bytes)?;
    let now = match args.now {
        Some(t) => OffsetDateTime::from_unix_timestamp(t)
            .map_err(|_| Usage(format!("--now {t} is out of range")))?,
        None => OffsetDateTime::now_utc(),
    };
    let key_texts = args
        .key
        .iter()
        .map(|k| key_text(k))
        .collect::<Result<Vec<_>, _>>()?;
    let replay = match (args.no_replay_check, args.tolerance) {
        (true, _) => ReplayChoice::DangerousDisabled,
        (false, Some(s)) => ReplayChoice::Window(ReplayWindow::symmetric(Duration::from_secs(s))),
        (false, None) => ReplayChoice::Default,
    };
    Ok(Input {
        limits,
        headers,
        body,
        now,
        key_texts,
        replay,
    })
}

/// The provider's inbound entry, or a usage error naming the providers
/// that have one.
fn inbound_info(
    provider: Provider,
) -> Result<&'static email_webhooks::provider::InboundInfo, Usage> {
    provider
        .info()
        .and_then(|info| info.inbound)
        .ok_or_else(|| {
            let with: Vec<&str> = Provider::ALL
                .iter()
                .filter(|p| p.info().is_some_and(|info| info.inbound.is_some()))
                .map(|p| p.as_str())
                .collect();
            Usage(format!(
                "this build reads no inbound mail of {provider}; it reads that of {}",
                with.join(", ")
            ))
        })
}

/// Inbound messages as the CLI prints them: the message fields plus
/// `idempotency_key`.
fn messages_json(messages: &[email_webhooks::InboundMessage]) -> Value {
    keyed_json(messages, email_webhooks::InboundMessage::idempotency_key)
}

/// Each item's fields plus its `idempotency_key`.
fn keyed_json<T: serde::Serialize>(items: &[T], key: fn(&T) -> String) -> Value {
    Value::Array(
        items
            .iter()
            .map(|item| {
                let mut v = serde_json::to_value(item).unwrap_or(Value::Null);
                v["idempotency_key"] = json!(key(item));
                v
            })
            .collect(),
    )
}

/// The `--fetched URL=FILE` contents (the last `=` ends the URL, which
/// may hold its own).
fn fetched_content(
    pairs: &[String],
    limits: &email_webhooks::InboundLimits,
) -> Result<email_webhooks::inbound::StaticContent, Usage> {
    let mut source = email_webhooks::inbound::StaticContent::new();
    for pair in pairs {
        let (url, file) = pair
            .rsplit_once('=')
            .filter(|(url, file)| !url.is_empty() && !file.is_empty())
            .ok_or_else(|| Usage(format!("--fetched takes URL=FILE, not {pair:?}")))?;
        let bytes = read_body(Some(&PathBuf::from(file)), limits.max_body_bytes)?;
        source = source.with(url, bytes);
    }
    Ok(source)
}

/// Fills each message's pending content from `source` (which never waits).
fn fetch_all(
    messages: &mut [email_webhooks::InboundMessage],
    source: &email_webhooks::inbound::StaticContent,
    limits: &email_webhooks::InboundLimits,
) -> Result<(), email_webhooks::Error> {
    use futures_util::FutureExt as _;
    for message in messages {
        message
            .fetch(source, limits)
            .now_or_never()
            .unwrap_or_else(|| {
                Err(email_webhooks::inbound::FetchError::Unavailable(
                    "the content source waited".into(),
                ))
            })?;
    }
    Ok(())
}

/// `verify --inbound`: the provider's inbound authentication, then its
/// messages.
fn run_verify_inbound(
    args: &VerifyArgs,
    provider: Provider,
    input: &Input,
) -> Result<(Value, u8), Usage> {
    let inbound = inbound_info(provider)?;
    let mut settings = Settings::new();
    settings.secrets.clone_from(&args.secrets);
    settings.keys.clone_from(&input.key_texts);
    settings.basic_auth.clone_from(&args.basic_auth);
    settings.topics.clone_from(&args.topics);
    settings.url_param.clone_from(&args.url_param);
    settings.url.clone_from(&args.url);
    settings.replay = input.replay;
    let limits =
        email_webhooks::InboundLimits::default().with_max_body_bytes(input.limits.max_body_bytes);
    let mut request = Request::new(&input.headers, &input.body).at(input.now);
    if let Some(url) = &args.url {
        request = request.with_url(url);
    }
    let source = fetched_content(&args.delivery.fetched, &limits)?;
    match inbound.verify(&settings, &request, &limits) {
        Ok(Ok(mut messages)) => match fetch_all(&mut messages, &source, &limits) {
            Ok(()) => {
                let mut out = json!({"valid": true, "scheme": args.scheme, "inbound": true, "messages": messages_json(&messages)});
                if messages.is_empty() {
                    // Verified above: what it says about the subscription.
                    let control = inbound.control.and_then(|read| read(&input.body));
                    write_control(&mut out, control.as_ref());
                }
                Ok((out, 0))
            }
            Err(error) => Ok(invalid_any(&error)),
        },
        Ok(Err(error)) => Ok(invalid_any(&error)),
        Err(error) => Err(setup_usage(provider, error)),
    }
}

/// `verify` for an email provider, through the registry.
fn run_verify_provider(
    args: &VerifyArgs,
    provider: Provider,
    input: Input,
) -> Result<(Value, u8), Usage> {
    let info = provider
        .info()
        .ok_or_else(|| Usage(format!("{provider} is not registered")))?;
    let mut settings = Settings::new();
    settings.secrets.clone_from(&args.secrets);
    settings.keys = input.key_texts;
    settings.basic_auth.clone_from(&args.basic_auth);
    settings.topics.clone_from(&args.topics);
    settings.url_param.clone_from(&args.url_param);
    settings.url.clone_from(&args.url);
    settings.limits = input.limits;
    settings.replay = input.replay;
    let built = match (info.build)(&settings) {
        Ok(built) => built,
        Err(SetupError::Missing(what)) => {
            return Err(Usage(format!("the {provider} provider needs {what}")));
        }
        Err(SetupError::Secret(e)) => return Ok(invalid(&e.into())),
        Err(SetupError::Verify(e)) => return Ok(invalid(&e)),
        Err(e) => return Err(Usage(e.to_string())),
    };
    let mut request = Request::new(&input.headers, &input.body).at(input.now);
    if let Some(url) = &args.url {
        request = request.with_url(url);
    }
    // Every provider answers at once here: the certificate, if any, is the
    // one given, so nothing waits on the network.
    let received = built
        .receive_boxed(&request)
        .now_or_never()
        .unwrap_or(Err(VerifyError::CertificateUnavailable.into()));
    let mut out = match received {
        Ok(delivery) => received_json(&delivery),
        // Authentication passed; the body is not the provider's payload.
        Err(email_webhooks::Error::Parse(e)) => json!({
            "events": [],
            "parse_error": {"code": e.code(), "message": e.to_string()},
        }),
        Err(e) => return Ok(invalid_any(&e)),
    };
    out["valid"] = json!(true);
    out["scheme"] = json!(provider.as_str());
    Ok((out, 0))
}

/// What a provider's delivery proved and carried, as `verify` prints it.
fn received_json(received: &Received) -> Value {
    let mut out = match &received.proof {
        Some(proof) => {
            let mut out = json!({"key_index": proof.key_index});
            if let Some(id) = &proof.id {
                out["id"] = json!(id);
            }
            if let Some(t) = proof.unix_timestamp {
                out["unix_timestamp"] = json!(t);
                if let Some(text) = OffsetDateTime::from_unix_timestamp(t)
                    .ok()
                    .and_then(|d| d.format(&Rfc3339).ok())
                {
                    out["timestamp"] = json!(text);
                }
            }
            out
        }
        None => json!({}),
    };
    write_control(&mut out, received.control.as_ref());
    // Always a list (empty for a control message), for scripts.
    out["events"] = events_json(&received.events);
    out
}

/// Writes a control message into `out` as `verify` prints it (events and
/// inbound alike); `false` when there is none.
fn write_control(out: &mut Value, control: Option<&Control>) -> bool {
    match control {
        Some(Control::SubscriptionConfirmation {
            topic_arn,
            subscribe_url,
        }) => {
            out["subscription_confirmation"] =
                json!({"topic_arn": topic_arn, "subscribe_url": subscribe_url.as_str()});
            true
        }
        Some(Control::UnsubscribeConfirmation { topic_arn }) => {
            out["unsubscribe_confirmation"] = json!({ "topic_arn": topic_arn });
            true
        }
        _ => false,
    }
}

/// `verify` for a signature scheme that is not an email provider.
fn run_verify_scheme(
    args: &VerifyArgs,
    scheme: Scheme,
    input: &Input,
) -> Result<(Value, u8), Usage> {
    if args.secrets.is_empty() && args.key.is_empty() {
        return Err(Usage("give at least one --secret or --key".into()));
    }
    if !scheme.takes_key() && !args.key.is_empty() {
        return Err(Usage(format!(
            "--key is not used by the {} scheme; give --secret",
            scheme.as_str()
        )));
    }
    if scheme == Scheme::Sns && args.key.is_empty() {
        return Err(Usage("the sns scheme needs --key".into()));
    }
    if scheme == Scheme::Sns && args.topics.is_empty() {
        return Err(Usage(format!("the sns scheme needs {TOPIC_WHY}")));
    }
    if scheme == Scheme::Twilio && args.url.is_none() {
        return Err(Usage("the twilio scheme needs --url".into()));
    }
    let verifier = match Verifier::build(args, scheme, input) {
        Ok(v) => v,
        Err(e) => return Ok(invalid(&e)),
    };
    let url = args.url.as_deref().unwrap_or_default();
    Ok(
        match verifier.run(&input.headers, url, &input.body, input.now) {
            Ok(mut out) => {
                out["valid"] = json!(true);
                out["scheme"] = json!(scheme.as_str());
                (out, 0)
            }
            Err(e) => invalid_any(&e),
        },
    )
}

/// Why SNS needs topics, for usage errors.
const TOPIC_WHY: &str = "--topic ARN (repeat for each accepted topic): AWS signs every \
     account's topics with the same certificates, so only the topic ties a delivery to you";

/// The JSON of what a signature proved.
fn proof_json(proof: &Verified<'_>) -> Value {
    let mut out = json!({"key_index": proof.key_index()});
    if let Some(id) = proof.id() {
        out["id"] = json!(id);
    }
    if let Some(t) = proof.unix_timestamp() {
        out["unix_timestamp"] = json!(t);
        if let Some(text) = proof.timestamp().and_then(|d| d.format(&Rfc3339).ok()) {
            out["timestamp"] = json!(text);
        }
    }
    out
}

/// Events as the CLI prints them: the event fields plus `idempotency_key`.
fn events_json(events: &[EmailEvent]) -> Value {
    keyed_json(events, EmailEvent::idempotency_key)
}

fn invalid_any(error: &email_webhooks::Error) -> (Value, u8) {
    (
        json!({"valid": false, "error": {"code": error.code(), "message": message(error)}}),
        1,
    )
}

/// The settings `send` and `sign --scheme PROVIDER` sign with.
/// The registered provider named `name` and its registry entry; a usage
/// error naming `what` was expected otherwise.
fn registered(
    name: &str,
    what: &str,
) -> Result<(Provider, &'static email_webhooks::provider::ProviderInfo), Usage> {
    let provider: Provider = name.parse().map_err(|_| Usage(format!("{what} {name}")))?;
    let info = provider
        .info()
        .ok_or_else(|| Usage(format!("{provider} is not registered")))?;
    Ok((provider, info))
}

/// A provider's setup error as a usage error (a missing flag, an unusable
/// key or body).
fn setup_usage(provider: Provider, error: SetupError) -> Usage {
    match error {
        SetupError::Missing(what) => Usage(format!("the {provider} provider needs {what}")),
        SetupError::Unsupported(kind) => {
            Usage(format!("the {provider} provider sends no {kind} event"))
        }
        other => Usage(format!("cannot sign for {provider}: {}", message(&other))),
    }
}

/// The event kind `send` simulates; unused with a given body.
fn send_kind(
    args: &SendArgs,
    provider: Provider,
    settings: &Settings,
    given: bool,
) -> Result<EventKind, Usage> {
    if given {
        // A given body carries its own events.
        return Ok(EventKind::Delivered);
    }
    if let Ok(kind) = args.event.parse() {
        return Ok(kind);
    }
    // The kinds the provider simulates: every kind it does not refuse.
    let sends: Vec<&str> = EventKind::ALL
        .iter()
        .filter(|&&kind| {
            let sim = Simulation::new(kind, "a@example.com", "0", 0, settings);
            provider.info().is_some_and(|info| {
                !matches!((info.simulate)(&sim), Err(SetupError::Unsupported(_)))
            })
        })
        .map(|kind| kind.as_str())
        .collect();
    Err(Usage(format!(
        "--event {} is not an event of {provider}; it sends {}",
        args.event,
        sends.join(", ")
    )))
}

fn run_send(args: &SendArgs) -> Result<(Value, u8), Usage> {
    let (provider, info) = registered(&args.provider, "unknown provider")?;
    // `--print` only shows the request: any URL will do (some providers sign it).
    if let Some(other) = args
        .to
        .iter()
        .find(|to| !args.print && !to.starts_with("http://"))
    {
        return Err(Usage(format!(
            "`send` posts to plain http:// URLs (your local endpoint), not {}; put a TLS proxy in front for https",
            other.split(['?', '#']).next().unwrap_or_default()
        )));
    }
    let mut settings = args.signer.settings()?;
    let given = args
        .body
        .as_ref()
        .map(|path| read_whole(Some(path), Limits::default().max_body_bytes))
        .transpose()?;
    let kind = send_kind(args, provider, &settings, given.is_some() || args.inbound)?;
    // Redeliveries repeat the event (same id and time); each is signed
    // again, as providers do (Mailgun with a fresh token every time).
    let delivery = simulate::Delivery::new();
    // What a well-behaved endpoint answers.
    let wanted = |status: &u16| {
        if args.tamper {
            // Refused as unproven or malformed; a 404 or 405 is not a refusal.
            matches!(status, 400 | 401 | 403)
        } else {
            (200..300).contains(status)
        }
    };
    let what = match (given.is_some(), args.inbound) {
        (true, _) => "saved delivery",
        (false, true) => "inbound message",
        (false, false) => args.event.as_str(),
    };
    let repeat = args
        .repeat
        .unwrap_or_else(|| u32::try_from(args.to.len()).unwrap_or(u32::MAX));
    let mut statuses = Vec::new();
    let mut sent_to = Vec::new();
    for (attempt, target) in (1..=repeat).zip(args.to.iter().cycle()) {
        // Providers that sign the URL sign the one called.
        settings.url = Some(target.clone());
        let attempt_id = simulate::random_id();
        let mut simulation =
            Simulation::new(kind, &args.recipient, &delivery.id, delivery.now, &settings)
                .attempt(&attempt_id);
        if let Some(body) = &given {
            simulation = simulation.with_body(body);
        }
        if args.tamper {
            simulation = simulation.tampered();
        }
        let simulate = if args.inbound {
            inbound_info(provider)?.simulate
        } else {
            info.simulate
        };
        let signed = simulate(&simulation).map_err(|e| setup_usage(provider, e))?;
        let url = with_query(target, signed.query.as_deref());
        if args.print {
            return Ok((printed_request(&url, &signed), 0));
        }
        let status = match simulate::post(&url, &signed.headers, &signed.body) {
            Ok(status) => status,
            // The endpoint is down or not HTTP: a failed send, not a usage
            // error (exit 1, as the help says).
            Err(error) => {
                eprintln!("email-webhooks: {error}");
                return Ok((
                    json!({"sent": false, "provider": args.provider, "to": target,
                           "statuses": statuses,
                           "error": {"code": "unreachable", "message": error}}),
                    1,
                ));
            }
        };
        let hint = send_hint(wanted(&status), args.tamper, status, target, provider);
        eprintln!(
            "email-webhooks: {}{} {what} to {target} (delivery {attempt} of {repeat}) -> HTTP {status}{hint}",
            if args.tamper { "tampered " } else { "" },
            args.provider,
        );
        statuses.push(status);
        sent_to.push(target.clone());
    }
    let all_expected = statuses.iter().all(wanted);
    Ok((
        json!({"sent": true, "provider": args.provider, "event": what, "to": sent_to,
               "tampered": args.tamper, "status": statuses.last(), "statuses": statuses}),
        u8::from(!all_expected),
    ))
}

/// `send --print`: the request instead of posting it.
fn printed_request(url: &str, signed: &email_webhooks::provider::Simulated) -> Value {
    let headers: serde_json::Map<String, Value> = signed
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({"url": url, "headers": headers, "body": String::from_utf8_lossy(&signed.body)})
}

/// What `send` adds to an answer it did not want.
fn send_hint(wanted: bool, tamper: bool, status: u16, target: &str, provider: Provider) -> String {
    match (wanted, tamper, status) {
        (true, _, _) => String::new(),
        (false, _, 404) => not_found_hint(target, provider),
        (false, false, _) => {
            " (the endpoint refused it: check its keys and logs, or `email-webhooks explain` with the same request)".to_owned()
        }
        (false, true, _) => " (the endpoint accepted a tampered request!)".to_owned(),
    }
}

/// `target` with the signed query appended (before any fragment).
fn with_query(target: &str, query: Option<&str>) -> String {
    let Some(query) = query else {
        return target.to_owned();
    };
    let (to, fragment) = target.split_once('#').unwrap_or((target, ""));
    let fragment = if fragment.is_empty() {
        String::new()
    } else {
        format!("#{fragment}")
    };
    let joiner = if to.contains('?') { '&' } else { '?' };
    format!("{to}{joiner}{query}{fragment}")
}

/// Why a receiver answered 404, named: the route called, and which
/// providers the receiver serves beside it. The adapters answer `GET` on a
/// configured provider's route (a probe answer or 405) and 404 on any
/// other, so asking each registered provider's sibling route tells which
/// are configured, as any caller could.
fn not_found_hint(target: &str, provider: Provider) -> String {
    let path_start = target
        .strip_prefix("http://")
        .and_then(|rest| rest.find('/').map(|i| i + "http://".len()));
    let (base, path) = path_start.map_or((target, "/"), |i| target.split_at(i));
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let route = format!("POST {path}");
    let Some(parent) = path.strip_suffix(provider.as_str()) else {
        return format!(
            " (nothing answers {route}: the adapters' route is POST /webhooks/{{provider}}, here /webhooks/{provider})"
        );
    };
    let configured: Vec<&str> = Provider::ALL
        .iter()
        .filter(|p| {
            let sibling = format!("{base}{parent}{}", p.as_str());
            simulate::request("GET", &sibling, &[], &[]).is_ok_and(|status| status != 404)
        })
        .map(|p| p.as_str())
        .collect();
    if configured.is_empty() {
        format!(
            " (nothing answers {route}: no provider answers under {parent}; the adapters' route is POST /webhooks/{{provider}})"
        )
    } else {
        format!(
            " (the receiver is not configured for {provider} at {route}; under {parent} it serves {}: add {provider} to its providers, or send to one of those)",
            configured.join(", ")
        )
    }
}

fn run_keygen(args: &KeygenArgs) -> Result<(Value, u8), Usage> {
    match args.provider.as_str() {
        "sendgrid" if args.cert_out.is_some() => Err(Usage(
            "--cert-out is for ses; a sendgrid receiver is configured with public_key".into(),
        )),
        "sendgrid" => simulate::keygen_sendgrid().map(|v| (v, 0)).map_err(Usage),
        "ses" => {
            let (mut json, pem) = simulate::keygen_ses().map_err(Usage)?;
            if let Some(path) = &args.cert_out {
                std::fs::write(path, pem)
                    .map_err(|e| Usage(format!("cannot write {}: {e}", path.display())))?;
                json["certificate_file"] = json!(path.display().to_string());
            }
            Ok((json, 0))
        }
        other => Err(Usage(format!(
            "keygen supports sendgrid and ses, not {other}; the other providers use shared secrets or credentials you choose"
        ))),
    }
}

fn run_parse(args: &ParseArgs) -> Result<(Value, u8), Usage> {
    let (provider, info) = registered(&args.provider, "unknown provider")?;
    let headers = parse_headers(&args.headers)?;
    if !args.delivery.inbound && !args.delivery.fetched.is_empty() {
        return Err(Usage("--fetched is for --inbound deliveries".into()));
    }
    if args.delivery.inbound {
        let inbound = inbound_info(provider)?;
        let limits = email_webhooks::InboundLimits::default();
        let body = read_body(args.delivery.body.as_ref(), limits.max_body_bytes)?;
        if body.len() > limits.max_body_bytes {
            return Ok(too_large(limits.max_body_bytes));
        }
        let source = fetched_content(&args.delivery.fetched, &limits)?;
        let parsed = (inbound.parse)(&Request::new(&headers, &body), &limits)
            .map_err(email_webhooks::Error::from)
            .and_then(|mut messages| fetch_all(&mut messages, &source, &limits).map(|()| messages));
        return Ok(match parsed {
            Ok(messages) => (json!({ "messages": messages_json(&messages) }), 0),
            Err(e) => (
                json!({"error": {"code": e.code(), "message": message(&e)}}),
                1,
            ),
        });
    }
    let max = Limits::default().max_body_bytes;
    let body = read_body(args.delivery.body.as_ref(), max)?;
    if body.len() > max {
        return Ok(too_large(max));
    }
    Ok(match (info.parse)(&Request::new(&headers, &body)) {
        Ok(events) => (json!({ "events": events_json(&events) }), 0),
        Err(e) => (
            json!({"error": {"code": e.code(), "message": e.to_string()}}),
            1,
        ),
    })
}

/// The verifier for a signature scheme, configured from the command line.
enum Verifier {
    Standard(StandardWebhooks),
    Stripe(StripeVerifier),
    GitHub(GitHubVerifier),
    Hmac(HmacVerifier),
    Twilio(TwilioVerifier),
    /// The certificates given, tried in turn (rotation).
    Sns(Box<SnsVerifier<StaticCertificates>>, Vec<SnsCertificate>),
}

/// Applies `verify`'s limits and replay choice.
fn configured<C: email_webhooks::Configure>(verifier: C, input: &Input) -> C {
    input.replay.apply(verifier.with_limits(input.limits))
}

impl Verifier {
    fn build(args: &VerifyArgs, scheme: Scheme, input: &Input) -> Result<Self, VerifyError> {
        let raw = |s: &String| Secret::from_bytes(s.as_bytes());
        let mut secrets = args
            .secrets
            .iter()
            .map(raw)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        let mut first = || secrets.next().ok_or(email_webhooks::SecretError::Empty);
        Ok(match scheme {
            // Resend's is Standard Webhooks (as `svix-*` headers).
            Scheme::StandardWebhooks | Scheme::Resend => {
                let mut keys = Vec::new();
                for s in &args.secrets {
                    keys.push(VerifyingKey::parse(s)?);
                }
                for k in &input.key_texts {
                    // `whpk_…` (or its base64), else an Ed25519 public key
                    // in the other forms keys are kept in: hex, base64
                    // SPKI DER, PEM.
                    let key = Ed25519PublicKey::from_standard_webhooks(k).or_else(|error| {
                        Ed25519PublicKey::parse(k)
                            .map(|(key, _)| key)
                            .map_err(|_| error)
                    })?;
                    keys.push(key.into());
                }
                Self::Standard(configured(StandardWebhooks::from_keys(keys)?, input))
            }
            Scheme::Stripe => {
                let v = StripeVerifier::new(first()?);
                Self::Stripe(configured(
                    secrets.fold(v, StripeVerifier::with_secret),
                    input,
                ))
            }
            Scheme::Github => {
                let v = GitHubVerifier::new(first()?);
                Self::GitHub(configured(
                    secrets.fold(v, GitHubVerifier::with_secret),
                    input,
                ))
            }
            Scheme::Slack | Scheme::Shopify => {
                let preset = if scheme == Scheme::Slack {
                    slack::verifier(first()?)
                } else {
                    shopify::verifier(first()?)
                };
                Self::Hmac(configured(
                    secrets.fold(preset, HmacVerifier::with_secret),
                    input,
                ))
            }
            Scheme::Twilio => {
                let v = TwilioVerifier::new(first()?);
                Self::Twilio(configured(
                    secrets.fold(v, TwilioVerifier::with_secret),
                    input,
                ))
            }
            Scheme::Sns => {
                if input.key_texts.is_empty() {
                    return Err(email_webhooks::SecretError::Empty.into());
                }
                let certificates = input
                    .key_texts
                    .iter()
                    .map(|pem| SnsCertificate::parse(pem.as_bytes()))
                    .collect::<Result<_, _>>()?;
                let sns = SnsVerifier::new(StaticCertificates::new(), args.topics.clone());
                Self::Sns(Box::new(configured(sns, input)), certificates)
            }
        })
    }

    /// Verifies; the success JSON without `valid` and `scheme`.
    fn run(
        &self,
        headers: &[(String, String)],
        url: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Value, email_webhooks::Error> {
        let proof = match self {
            Self::Standard(v) => v.verify_at(&headers, body, now)?,
            Self::Stripe(v) => v.verify_at(&headers, body, now)?,
            Self::GitHub(v) => v.verify(&headers, body)?,
            Self::Hmac(v) => v.verify_at(&headers, body, now)?,
            Self::Twilio(v) => v.verify(headers, url, body)?,
            Self::Sns(v, certificates) => {
                let mut verified = Err(VerifyError::InvalidSignature);
                for (index, certificate) in certificates.iter().enumerate() {
                    verified = v
                        .verify_with_certificate_at(headers, body, certificate, now)
                        .map(|message| (index, message));
                    // Another certificate may be the one that signed it:
                    // this one does not match, or is not valid now.
                    if !matches!(
                        verified,
                        Err(VerifyError::InvalidSignature
                            | VerifyError::InvalidCertificate
                            | VerifyError::CertificateUnavailable)
                    ) {
                        break;
                    }
                }
                let (index, message) = verified?;
                let mut out = match &message {
                    SnsMessage::Notification(e) => json!({
                        "type": e.message_type, "message_id": e.message_id,
                        "topic_arn": e.topic_arn, "message": e.message,
                    }),
                    SnsMessage::SubscriptionConfirmation {
                        envelope,
                        subscribe_url,
                    } => json!({
                        "subscription_confirmation": {"topic_arn": envelope.topic_arn, "subscribe_url": subscribe_url.as_str()}
                    }),
                    SnsMessage::UnsubscribeConfirmation { envelope, .. } => json!({
                        "unsubscribe_confirmation": {"topic_arn": envelope.topic_arn}
                    }),
                    _ => json!({}),
                };
                out["key_index"] = json!(index);
                if let Some(t) = message.unix_timestamp() {
                    out["unix_timestamp"] = json!(t);
                }
                return Ok(out);
            }
        };
        Ok(proof_json(&proof))
    }
}

fn run_sign(args: &SignArgs) -> Result<(Value, u8), Usage> {
    let body = read_whole(args.body.as_ref(), Limits::default().max_body_bytes)?;
    let timestamp = args
        .timestamp
        .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
    let Some(scheme) = Scheme::named(&args.scheme, true) else {
        return sign_as_provider(args, &body, timestamp);
    };
    match sign(args, scheme, &body, timestamp) {
        Ok(headers) => {
            let map: serde_json::Map<String, Value> = headers
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Ok((json!({ "headers": map }), 0))
        }
        Err(SignError::Usage(u)) => Err(u),
        Err(SignError::Key(e)) => Ok((
            json!({"error": {"code": e.code(), "message": e.to_string()}}),
            1,
        )),
    }
}

enum SignError {
    Usage(Usage),
    Key(VerifyError),
}

impl<E: Into<VerifyError>> From<E> for SignError {
    fn from(e: E) -> Self {
        Self::Key(e.into())
    }
}

/// `sign --scheme PROVIDER`: the body signed as the provider signs it.
fn sign_as_provider(args: &SignArgs, body: &[u8], timestamp: i64) -> Result<(Value, u8), Usage> {
    let (provider, info) = registered(&args.scheme, "unknown scheme or provider")?;
    let mut settings = args.signer.settings()?;
    settings.url.clone_from(&args.url);
    let id = args.id.clone().unwrap_or_else(simulate::random_id);
    let simulation =
        Simulation::new(EventKind::Delivered, "", &id, timestamp, &settings).with_body(body);
    let signed = (info.simulate)(&simulation).map_err(|e| setup_usage(provider, e))?;
    let headers: serde_json::Map<String, Value> = signed
        .headers
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut out = json!({ "headers": headers });
    if let Some(query) = signed.query {
        out["query"] = json!(query);
    }
    if signed.body != body {
        out["body"] = json!(String::from_utf8_lossy(&signed.body));
    }
    Ok((out, 0))
}

fn sign(
    args: &SignArgs,
    scheme: Scheme,
    body: &[u8],
    timestamp: i64,
) -> Result<Vec<(String, String)>, SignError> {
    let usage = |m: String| SignError::Usage(Usage(m));
    if scheme != Scheme::StandardWebhooks && args.signer.key.is_some() {
        return Err(usage(format!(
            "--key is not used by the {} scheme; give --secret",
            scheme
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_owned())
        )));
    }
    if scheme != Scheme::StandardWebhooks && args.signer.secret.is_none() {
        return Err(usage("give --secret".into()));
    }
    if args.signer.basic_auth.is_some()
        || args.signer.topic.is_some()
        || args.signer.url_param.is_some()
    {
        return Err(usage(
            "--basic-auth, --topic and --url-param are for email providers, not signature schemes"
                .into(),
        ));
    }
    let secret = || -> Result<Secret, SignError> {
        let s = args.signer.secret.as_deref().unwrap_or_default();
        Ok(Secret::from_bytes(s.as_bytes())?)
    };
    Ok(match scheme {
        Scheme::StandardWebhooks | Scheme::Resend => {
            let key = match (&args.signer.secret, &args.signer.key) {
                (Some(s), _) => SigningKey::parse(s)?,
                (None, Some(k)) => SigningKey::parse(&key_text(k).map_err(SignError::Usage)?)?,
                (None, None) => return Err(usage("give --secret or --key".into())),
            };
            let id = args
                .id
                .clone()
                .unwrap_or_else(|| format!("msg_{timestamp}"));
            // Resend sends the Standard Webhooks headers as `svix-*`.
            let prefix = if scheme == Scheme::Resend {
                "svix-"
            } else {
                "webhook-"
            };
            StandardWebhooksSigner::new(key)
                .headers(&id, timestamp, body)?
                .into_iter()
                .map(|(k, v)| (k.replacen("webhook-", prefix, 1), v))
                .collect()
        }
        Scheme::Sns => return Err(usage("the sns scheme only verifies; sign as ses".into())),
        Scheme::Stripe => vec![(
            email_webhooks::scheme::stripe::SIGNATURE_HEADER.to_owned(),
            StripeVerifier::new(secret()?).sign(timestamp, body)?,
        )],
        Scheme::Github => GitHubVerifier::new(secret()?).sign(body)?,
        Scheme::Slack => slack::verifier(secret()?).sign(Some(timestamp), body)?,
        Scheme::Shopify => shopify::verifier(secret()?).sign(None, body)?,
        Scheme::Twilio => {
            let url = args
                .url
                .as_deref()
                .ok_or_else(|| usage("the twilio scheme needs --url".into()))?;
            vec![
                (
                    email_webhooks::scheme::twilio::SIGNATURE_HEADER.to_owned(),
                    TwilioVerifier::new(secret()?).sign(url, body)?,
                ),
                (
                    "Content-Type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                ),
            ]
        }
    })
}
