//! `mailhook`: verify and sign webhook requests from the command line, for
//! people debugging a failing webhook and for scripts.
//!
//! ```text
//! mailhook verify --scheme NAME [--secret S]... [--key K] [--header 'Name: value']...
//!                 [--url URL] [--now UNIX_SECONDS] [--tolerance SECONDS | --no-replay-check]
//!                 [--max-body BYTES] [--body FILE]        (body from stdin when no --body)
//! mailhook sign   --scheme NAME [--secret S | --key K] [--id ID] [--timestamp UNIX] [--body FILE]
//! ```
//!
//! `verify` prints one JSON object and exits 0 when valid, 1 when not; usage
//! errors exit 2 with a message on stderr.

use std::io::{self, Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mailhook::scheme::github::GitHubVerifier;
use mailhook::scheme::hmac::HmacVerifier;
use mailhook::scheme::standard::{
    SigningKey, StandardWebhooks, StandardWebhooksSigner, VerifyingKey,
};
use mailhook::scheme::stripe::StripeVerifier;
use mailhook::scheme::twilio::TwilioVerifier;
use mailhook::scheme::{shopify, slack};
use mailhook::{Ed25519PublicKey, Limits, ReplayWindow, Secret, Verified, VerifyError};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Parser, Debug)]
#[command(name = "mailhook", version, about = "Verify and sign webhook requests")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Verify a request: prints {"valid":true,...} (exit 0) or
    /// {"valid":false,"error":{...}} (exit 1).
    Verify(VerifyArgs),
    /// Sign a body as the sender would: prints {"headers":{...}}.
    Sign(SignArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SchemeName {
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
}

impl SchemeName {
    fn as_str(self) -> &'static str {
        match self {
            Self::StandardWebhooks => "standard-webhooks",
            Self::Stripe => "stripe",
            Self::Github => "github",
            Self::Slack => "slack",
            Self::Shopify => "shopify",
            Self::Twilio => "twilio",
        }
    }
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// The signature scheme.
    #[arg(long, value_enum)]
    scheme: SchemeName,
    /// A shared secret; repeat for key rotation.
    #[arg(long = "secret", value_name = "S")]
    secrets: Vec<String>,
    /// A public key (Standard Webhooks `whpk_…`), or a file holding one.
    #[arg(long, value_name = "K")]
    key: Vec<String>,
    /// A request header, `Name: value`; repeat for each.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The public URL the provider called (Twilio).
    #[arg(long)]
    url: Option<String>,
    /// Verify as if the time were this Unix time in seconds.
    #[arg(long, value_name = "UNIX_SECONDS", allow_negative_numbers = true)]
    now: Option<i64>,
    /// Replay tolerance in seconds, both ways (default 300).
    #[arg(long, value_name = "SECONDS", conflicts_with = "no_replay_check")]
    tolerance: Option<u64>,
    /// Accept any signed timestamp (for replaying captured requests).
    #[arg(long)]
    no_replay_check: bool,
    /// Largest body accepted, in bytes (default 5 MiB).
    #[arg(long, value_name = "BYTES")]
    max_body: Option<usize>,
    /// Read the body from this file instead of standard input.
    #[arg(long, value_name = "FILE")]
    body: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct SignArgs {
    /// The signature scheme.
    #[arg(long, value_enum)]
    scheme: SchemeName,
    /// The shared secret.
    #[arg(
        long,
        value_name = "S",
        conflicts_with = "key",
        required_unless_present = "key"
    )]
    secret: Option<String>,
    /// A signing key (Standard Webhooks `whsk_…`), or a file holding one.
    #[arg(long, value_name = "K")]
    key: Option<String>,
    /// The delivery id (Standard Webhooks; default `msg_<timestamp>`).
    #[arg(long)]
    id: Option<String>,
    /// The Unix time to sign (default now).
    #[arg(long, value_name = "UNIX", allow_negative_numbers = true)]
    timestamp: Option<i64>,
    /// The public URL (Twilio).
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
        Command::Sign(args) => run_sign(&args),
    };
    match outcome {
        Ok((value, code)) => {
            let mut out = io::stdout().lock();
            if writeln!(out, "{value}").is_err() {
                return ExitCode::from(1);
            }
            ExitCode::from(code)
        }
        Err(Usage(message)) => {
            eprintln!("mailhook: {message}");
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

fn parse_headers(raw: &[String]) -> Result<Vec<(String, String)>, Usage> {
    raw.iter()
        .map(|h| match h.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim_start().to_owned()))
            }
            _ => Err(Usage(format!("--header expects `Name: value`, got `{h}`"))),
        })
        .collect()
}

/// A key given inline, or the contents of the file it names.
fn key_text(key: &str) -> Result<String, Usage> {
    if std::path::Path::new(key).is_file() {
        std::fs::read_to_string(key)
            .map(|contents| contents.trim().to_owned())
            .map_err(|e| Usage(format!("cannot read key file {key}: {e}")))
    } else {
        Ok(key.to_owned())
    }
}

fn invalid(error: &VerifyError) -> (Value, u8) {
    (
        json!({"valid": false, "error": {"code": error.code(), "message": error.to_string()}}),
        1,
    )
}

fn run_verify(args: &VerifyArgs) -> Result<(Value, u8), Usage> {
    if args.secrets.is_empty() && args.key.is_empty() {
        return Err(Usage("give at least one --secret or --key".into()));
    }
    if args.scheme != SchemeName::StandardWebhooks && !args.key.is_empty() {
        return Err(Usage(format!(
            "--key is not used by the {} scheme; give --secret",
            args.scheme.as_str()
        )));
    }
    if args.scheme == SchemeName::Twilio && args.url.is_none() {
        return Err(Usage("the twilio scheme needs --url".into()));
    }
    let limits = match args.max_body {
        Some(bytes) => Limits::default().with_max_body_bytes(bytes),
        None => Limits::default(),
    };
    let headers = parse_headers(&args.headers)?;
    let body = read_body(args.body.as_ref(), limits.max_body_bytes)?;
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
    let verifier = match Verifier::build(args, &key_texts, limits) {
        Ok(v) => v,
        Err(e) => return Ok(invalid(&e)),
    };
    let url = args.url.as_deref().unwrap_or_default();
    Ok(match verifier.verify(&headers, url, &body, now) {
        Ok(proof) => {
            let mut out = json!({"valid": true, "scheme": args.scheme.as_str(), "key_index": proof.key_index()});
            if let Some(id) = proof.id() {
                out["id"] = json!(id);
            }
            if let Some(t) = proof.unix_timestamp() {
                out["unix_timestamp"] = json!(t);
                if let Some(text) = proof.timestamp().and_then(|d| d.format(&Rfc3339).ok()) {
                    out["timestamp"] = json!(text);
                }
            }
            (out, 0)
        }
        Err(e) => invalid(&e),
    })
}

/// The verifier for a scheme, configured from the command line.
enum Verifier {
    Standard(StandardWebhooks),
    Stripe(StripeVerifier),
    GitHub(GitHubVerifier),
    Hmac(HmacVerifier),
    Twilio(TwilioVerifier),
}

impl Verifier {
    fn build(args: &VerifyArgs, key_texts: &[String], limits: Limits) -> Result<Self, VerifyError> {
        let window = args
            .tolerance
            .map(|s| ReplayWindow::symmetric(Duration::from_secs(s)));
        let raw = |s: &String| Secret::from_bytes(s.as_bytes());
        let raw_secrets = || args.secrets.iter().map(raw).collect::<Result<Vec<_>, _>>();
        Ok(match args.scheme {
            SchemeName::StandardWebhooks => {
                let mut keys = Vec::new();
                for s in &args.secrets {
                    keys.push(VerifyingKey::parse(s)?);
                }
                for k in key_texts {
                    keys.push(Ed25519PublicKey::from_standard_webhooks(k)?.into());
                }
                let mut v = StandardWebhooks::from_keys(keys)?.with_limits(limits);
                if let Some(w) = window {
                    v = v.with_replay_window(w);
                }
                if args.no_replay_check {
                    v = v.dangerous_disable_replay_check();
                }
                Self::Standard(v)
            }
            SchemeName::Stripe => {
                let mut secrets = raw_secrets()?.into_iter();
                let first = secrets.next().ok_or(mailhook::SecretError::Empty)?;
                let mut v = secrets
                    .fold(StripeVerifier::new(first), StripeVerifier::with_secret)
                    .with_limits(limits);
                if let Some(w) = window {
                    v = v.with_replay_window(w);
                }
                if args.no_replay_check {
                    v = v.dangerous_disable_replay_check();
                }
                Self::Stripe(v)
            }
            SchemeName::Github => {
                let mut secrets = raw_secrets()?.into_iter();
                let first = secrets.next().ok_or(mailhook::SecretError::Empty)?;
                Self::GitHub(
                    secrets
                        .fold(GitHubVerifier::new(first), GitHubVerifier::with_secret)
                        .with_limits(limits),
                )
            }
            SchemeName::Slack | SchemeName::Shopify => {
                let mut secrets = raw_secrets()?.into_iter();
                let first = secrets.next().ok_or(mailhook::SecretError::Empty)?;
                let preset = if args.scheme == SchemeName::Slack {
                    slack::verifier(first)
                } else {
                    shopify::verifier(first)
                };
                let mut v = secrets
                    .fold(preset, HmacVerifier::with_secret)
                    .with_limits(limits);
                if let Some(w) = window {
                    v = v.with_replay_window(w);
                }
                if args.no_replay_check {
                    v = v.dangerous_disable_replay_check();
                }
                Self::Hmac(v)
            }
            SchemeName::Twilio => {
                let mut secrets = raw_secrets()?.into_iter();
                let first = secrets.next().ok_or(mailhook::SecretError::Empty)?;
                Self::Twilio(
                    secrets
                        .fold(TwilioVerifier::new(first), TwilioVerifier::with_secret)
                        .with_limits(limits),
                )
            }
        })
    }

    fn verify<'h>(
        &self,
        headers: &'h [(String, String)],
        url: &str,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<Verified<'h>, VerifyError> {
        match self {
            Self::Standard(v) => v.verify_at(headers, body, now),
            Self::Stripe(v) => v.verify_at(headers, body, now),
            Self::GitHub(v) => v.verify(headers, body),
            Self::Hmac(v) => v.verify_at(headers, body, now),
            Self::Twilio(v) => v.verify(headers, url, body),
        }
    }
}

fn run_sign(args: &SignArgs) -> Result<(Value, u8), Usage> {
    let body = read_body(args.body.as_ref(), Limits::default().max_body_bytes)?;
    let timestamp = args
        .timestamp
        .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp());
    match sign(args, &body, timestamp) {
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

fn sign(args: &SignArgs, body: &[u8], timestamp: i64) -> Result<Vec<(String, String)>, SignError> {
    let usage = |m: String| SignError::Usage(Usage(m));
    if args.scheme != SchemeName::StandardWebhooks && args.key.is_some() {
        return Err(usage(format!(
            "--key is not used by the {} scheme; give --secret",
            args.scheme.as_str()
        )));
    }
    let secret = || -> Result<Secret, SignError> {
        let s = args.secret.as_deref().unwrap_or_default();
        Ok(Secret::from_bytes(s.as_bytes())?)
    };
    Ok(match args.scheme {
        SchemeName::StandardWebhooks => {
            let key = match (&args.secret, &args.key) {
                (Some(s), _) => SigningKey::parse(s)?,
                (None, Some(k)) => SigningKey::parse(&key_text(k).map_err(SignError::Usage)?)?,
                (None, None) => return Err(usage("give --secret or --key".into())),
            };
            let id = args
                .id
                .clone()
                .unwrap_or_else(|| format!("msg_{timestamp}"));
            StandardWebhooksSigner::new(key)
                .headers(&id, timestamp, body)?
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect()
        }
        SchemeName::Stripe => vec![(
            mailhook::scheme::stripe::SIGNATURE_HEADER.to_owned(),
            StripeVerifier::new(secret()?).sign(timestamp, body)?,
        )],
        SchemeName::Github => GitHubVerifier::new(secret()?).sign(body)?,
        SchemeName::Slack => slack::verifier(secret()?).sign(Some(timestamp), body)?,
        SchemeName::Shopify => shopify::verifier(secret()?).sign(None, body)?,
        SchemeName::Twilio => {
            let url = args
                .url
                .as_deref()
                .ok_or_else(|| usage("the twilio scheme needs --url".into()))?;
            vec![
                (
                    mailhook::scheme::twilio::SIGNATURE_HEADER.to_owned(),
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
